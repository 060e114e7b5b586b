//! The documentation stays true to the code and to its measurements:
//!
//! - every local link and image of README.md and docs/**/*.md resolves: every `](target)`
//!   that is not a URL names a file or folder that exists (relative to the page);
//! - the config block of docs/config.md (under "## All keys and their defaults") states the
//!   defaults of the code;
//! - every section of README.md and docs/*.md that states a measured figure also shows the
//!   command that produces it and names the machine it was measured on (see
//!   [`figure_problems`] for the rule).

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn pages(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            pages(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The targets of the Markdown links and images in `text`: what stands between `](` and the
/// next `)`, without a `#fragment`.
fn targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split('#').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .collect()
}

#[test]
fn every_local_link_and_image_in_the_docs_resolves() {
    let mut files = vec![root().join("README.md")];
    pages(&root().join("docs"), &mut files);
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for target in targets(&text) {
            checked += 1;
            if !file.parent().unwrap().join(&target).exists() {
                broken.push(format!("{} -> {target}", file.display()));
            }
        }
    }
    assert!(checked > 10, "only {checked} links found");
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn link_targets_are_read_without_fragments_and_urls() {
    let text = "see [a](docs/a.md#speed), ![p](p.png) and [web](https://x.org/y) or [c](#c)";
    assert_eq!(targets(text), vec!["docs/a.md", "p.png"]);
}

/// The heading in docs/config.md under which the first ```toml block is the full config.
const CONFIG_HEADING: &str = "## All keys and their defaults";

/// The config block of docs/config.md, parsed.
fn documented_config() -> toml::Table {
    let page = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    let section = &page[page
        .find(CONFIG_HEADING)
        .expect("the config reference section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    toml::from_str(block).expect("the config block of docs/config.md parses")
}

#[test]
fn the_documented_config_block_states_the_defaults_of_the_code() {
    use polytask::config::{
        AlgorithmConfig, LoggingConfig, NetworkConfig, SacSection, SurgeryConfig, WeightingConfig,
    };
    let documented = documented_config();
    let defaults = [
        (
            "algorithm",
            toml::Value::try_from(AlgorithmConfig::default()),
        ),
        ("sac", toml::Value::try_from(SacSection::default())),
        ("network", toml::Value::try_from(NetworkConfig::default())),
        ("surgery", toml::Value::try_from(SurgeryConfig::default())),
        (
            "weighting",
            toml::Value::try_from(WeightingConfig::default()),
        ),
        ("logging", toml::Value::try_from(LoggingConfig::default())),
    ];
    let mut compared = 0;
    for (section, default) in defaults {
        let default = default.unwrap();
        let stated = documented[section].as_table().expect("a table");
        for (key, value) in stated {
            let code = &default[key.as_str()];
            assert_eq!(
                value, code,
                "docs/config.md `{section}.{key}` = {value}, the code's default is {code}"
            );
            compared += 1;
        }
    }
    assert!(compared > 20, "only {compared} keys compared");
}

/// One section of a page: the text under a heading, down to the next heading of any level.
struct Section {
    heading: String,
    /// The text outside code, inline code spans removed.
    prose: String,
    /// The lines of fenced code blocks and the inline code spans, trimmed.
    code: Vec<String>,
}

/// `text` cut into sections at its headings (`#` lines outside fenced code blocks); the text
/// before the first heading is a section with an empty heading.
fn sections(text: &str) -> Vec<Section> {
    let mut out = Vec::new();
    let (mut heading, mut prose, mut code) = (String::new(), String::new(), Vec::new());
    let mut in_fence = false;
    let mut finish = |heading: &str, prose: &str, code: &mut Vec<String>| {
        let mut section = Section {
            heading: heading.to_string(),
            prose: String::new(),
            code: std::mem::take(code),
        };
        // Between backticks (odd pieces) is inline code, which may span lines.
        for (k, piece) in prose.split('`').enumerate() {
            if k % 2 == 1 {
                section
                    .code
                    .push(piece.split_whitespace().collect::<Vec<_>>().join(" "));
            } else {
                section.prose.push_str(piece);
            }
        }
        out.push(section);
    };
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if in_fence {
            code.push(line.trim().to_string());
        } else if line.starts_with('#') {
            finish(&heading, &prose, &mut code);
            heading = line.to_string();
            prose.clear();
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    finish(&heading, &prose, &mut code);
    out
}

/// Whether `prose` states a measured figure: a number followed by a unit of speed or time
/// (`steps/s`, `µs`, `ms`, `ns`, `s`, `minutes`), a ratio (`1.85×`, but not the `10×10` of a
/// shape) or a spread (`-208 ± 119`). Numbers inside words (`v1`, `f32`) do not count.
fn states_a_figure(prose: &str) -> bool {
    let chars: Vec<char> = prose.chars().collect();
    let alnum = |i: usize| chars.get(i).is_some_and(|c| c.is_alphanumeric());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && (alnum(i - 1) || chars[i - 1] == '.')) {
            i += 1;
            continue;
        }
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], '.' | ',')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        if matches!(chars.get(i), Some('k' | 'M')) && !alnum(i + 1) {
            i += 1;
        }
        let mut j = i;
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        let rest: String = chars[j..chars.len().min(j + 12)].iter().collect();
        let unit = |u: &str| rest.starts_with(u) && !alnum(j + u.chars().count());
        let spread = rest
            .strip_prefix('±')
            .is_some_and(|r| r.trim_start().starts_with(|c: char| c.is_ascii_digit()));
        if spread
            || rest.starts_with("steps/s")
            || rest.starts_with("M steps/s")
            || rest.starts_with("k steps/s")
            || ["µs", "ms", "ns", "s", "minutes", "×"]
                .into_iter()
                .any(unit)
        {
            return true;
        }
    }
    false
}

/// Whether a code line or inline code span is a command that produces figures: after any
/// `NAME=value` environment assignments, it starts with `polytask`, `cargo`, a script of
/// `scripts/` or a built `.../polytask` binary, or runs a script of `scripts/` with an
/// interpreter (`/tmp/venv/bin/python scripts/bench_envpool.py ...`).
fn is_command(code: &str) -> bool {
    let mut words = code
        .split_whitespace()
        .skip_while(|w| w.starts_with(|c: char| c.is_ascii_uppercase()) && w.contains('='));
    let first = words.next().unwrap_or("");
    let second = words.next().unwrap_or("");
    first == "polytask"
        || first == "cargo"
        || first.starts_with("scripts/")
        || first.ends_with("/polytask")
        || (first.contains("python") && second.starts_with("scripts/"))
}

/// Words that name a machine a figure was measured on, by its CPU (or GPU) model.
const MACHINES: [&str; 3] = ["Xeon", "EPYC", "H200"];

/// The figure rule for one page: every section (the text under one heading, down to the next
/// heading of any level) that states a measured figure (see [`states_a_figure`]) must also
/// show a command that produces figures (see [`is_command`]; in a fenced block or inline
/// code) and name the machine by its CPU or GPU model (one of [`MACHINES`]). Sections are
/// short, so "in the same section" is "next to it"; a section whose command or machine is
/// deleted fails. Returns how many sections state figures, and one line per section that
/// breaks the rule.
fn figure_problems(page: &str, text: &str) -> (usize, Vec<String>) {
    let mut figures = 0;
    let mut problems = Vec::new();
    for section in sections(text) {
        if !states_a_figure(&section.prose) {
            continue;
        }
        figures += 1;
        if !section.code.iter().any(|c| is_command(c)) {
            problems.push(format!(
                "{page} `{}`: a figure without its command",
                section.heading
            ));
        }
        if !MACHINES.iter().any(|m| section.prose.contains(m)) {
            problems.push(format!(
                "{page} `{}`: a figure without its machine",
                section.heading
            ));
        }
    }
    (figures, problems)
}

#[test]
fn figures_and_commands_are_recognised() {
    for figure in [
        "polytask 30k–42k steps/s",
        "19.0–23.0 M steps/s",
        "| `cartpole.toml` | 100k | CartPole-v1 228 | ~4 s |",
        "Pendulum-v1 −208 ± 119",
        "2 threads give about 1.85×.",
        "0.1–0.6 ms at T = 10",
        "about 2.5 µs on one core",
        "takes about 5 minutes",
    ] {
        assert!(states_a_figure(figure), "{figure}");
    }
    for not_a_figure in [
        "a 10×10 grid of 10×10×C cells, Box(10, 10, 4), MinAtar v1, f32, L2",
        "vary by ±30%, a 95% interval, agreement to 1e-5, Gymnasium 1.4's environments",
        "100k steps per task, 8 envs × 32 steps, exit 130 / 143, 2,000 per CI run",
    ] {
        assert!(!states_a_figure(not_a_figure), "{not_a_figure}");
    }
    for command in [
        "scripts/polytask bench envs --env CartPole-v1",
        "polytask bench learner --tasks 10",
        "POLYTASK_BUILD_FEATURES=python POLYTASK_PYTHON=/v/bin/python scripts/polytask bench envs",
        "target/release/polytask bench envs --env MinAtar/$g-v0",
        "/tmp/envpoolvenv/bin/python scripts/bench_envpool.py --num-envs 64",
        "cargo run --release --example custom_env",
    ] {
        assert!(is_command(command), "{command}");
    }
    for not_a_command in [
        "configs/cartpole.toml",
        "--seed N",
        "threads = 1",
        "Σ_t L_t",
    ] {
        assert!(!is_command(not_a_command), "{not_a_command}");
    }
}

#[test]
fn a_figure_section_that_loses_its_command_or_machine_fails() {
    let page = "# Speed\n\nNo figure here.\n\n## Training\n\nOn the 2-core Intel Xeon machine \
                (`scripts/polytask bench train --steps 30000`): 30k–42k steps/s.\n\n\
                ```toml\n# not a heading\n```\n\n## Other\n\nText.\n";
    assert_eq!(figure_problems("p", page), (1, vec![]));
    let no_command = page.replace("`scripts/polytask bench train --steps 30000`", "see above");
    let (figures, problems) = figure_problems("p", &no_command);
    assert_eq!(figures, 1);
    assert_eq!(
        problems,
        vec!["p `## Training`: a figure without its command"]
    );
    let no_machine = page.replace("Intel Xeon", "development");
    assert_eq!(
        figure_problems("p", &no_machine).1,
        vec!["p `## Training`: a figure without its machine"]
    );
}

#[test]
fn every_figure_in_the_docs_carries_its_command_and_machine() {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let (mut figure_sections, mut pages_with_figures) = (0, 0);
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let page = file.strip_prefix(root()).unwrap().display().to_string();
        let (figures, page_problems) = figure_problems(&page, &text);
        figure_sections += figures;
        pages_with_figures += usize::from(figures > 0);
        problems.extend(page_problems);
    }
    assert!(
        figure_sections >= 10 && pages_with_figures >= 6,
        "only {figure_sections} sections in {pages_with_figures} pages state figures"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}
