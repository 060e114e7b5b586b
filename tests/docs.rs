//! The documentation's local links and images resolve: every `](target)` in README.md and
//! docs/**/*.md that is not a URL names a file or folder that exists (relative to the page).

use std::path::{Path, PathBuf};

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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    pages(&root.join("docs"), &mut files);
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

/// The README's config block, parsed.
fn readme_config() -> toml::Table {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find("## Config").expect("a Config section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    toml::from_str(block).expect("the README's config block parses")
}

#[test]
fn the_readme_config_block_states_the_defaults_of_the_code() {
    use polytask::config::{
        AlgorithmConfig, LoggingConfig, NetworkConfig, SurgeryConfig, WeightingConfig,
    };
    let readme = readme_config();
    let defaults = [
        (
            "algorithm",
            toml::Value::try_from(AlgorithmConfig::default()),
        ),
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
        let stated = readme[section].as_table().expect("a table");
        for (key, value) in stated {
            let code = &default[key.as_str()];
            assert_eq!(
                value, code,
                "README `{section}.{key}` = {value}, the code's default is {code}"
            );
            compared += 1;
        }
    }
    assert!(compared > 20, "only {compared} keys compared");
}
