//! The custom-environment example (`examples/custom_env/`, shown in the docs/custom-envs.md
//! section "Add your own environment"): `Reach-v0` passes `check_env`, its documented optimum
//! holds, the library-API training on `reach.toml` gets within reach of the optimum, far above a
//! random policy, and the command line (`polytask::app`, as the example binary runs it)
//! lists and trains it.

// The example's own files, as modules of this test: main.rs, and reach.rs once more (main.rs
// declares it privately, as a user's binary would, so the test loads its own copy).
#[allow(dead_code)]
#[path = "../examples/custom_env/main.rs"]
mod example;
#[allow(clippy::duplicate_mod)]
#[path = "../examples/custom_env/reach.rs"]
mod reach;

mod common;

use common::temp_dir;
use std::path::Path;

use clap::Parser;
use polytask::commands::Cli;
use polytask::envs::{check_env, Action, Env, Params, Registry};

#[test]
fn reach_passes_check_env_at_every_length_without_warnings() {
    let registry = reach::registry();
    for length in [1.0, 2.0, 10.0, 1000.0] {
        let params = Params::new().with("length", length);
        let mut env = registry.make(reach::ID, &params).unwrap();
        let report = check_env(&mut *env).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.warnings.is_empty(), "{report:?}");
    }
    for bad in [0.0, 2.5, 1001.0] {
        let params = Params::new().with("length", bad);
        let Err(err) = registry.make(reach::ID, &params) else {
            panic!("length {bad} was accepted");
        };
        assert!(err.to_string().contains("`length`"), "{err}");
    }
}

/// Walks straight to the goal over `episodes` seeded episodes; checks that each episode's
/// return is `-|start - goal|` and returns the mean.
fn optimal_policy_return(length: u32, episodes: u64) -> f64 {
    let mut env = reach::Reach::new(length);
    let mut obs = [0.0; 2];
    let mut total = 0.0;
    for seed in 0..episodes {
        env.reset(Some(seed), &mut obs);
        let cell = |x: f32| (x * length as f32).round() as i64;
        let (start, goal) = (cell(obs[0]), cell(obs[1]));
        assert_ne!(start, goal);
        let mut episode_return = 0.0;
        loop {
            let action = match cell(obs[0]).cmp(&goal) {
                std::cmp::Ordering::Less => 2,
                std::cmp::Ordering::Equal => 1,
                std::cmp::Ordering::Greater => 0,
            };
            let step = env.step(Action::Discrete(action), &mut obs).unwrap();
            episode_return += step.reward;
            if step.terminated {
                break;
            }
        }
        assert_eq!(episode_return, -((start - goal).abs() as f64));
        total += episode_return;
    }
    total / episodes as f64
}

#[test]
fn the_documented_optimum_is_the_optimal_policys_mean_return() {
    for length in [1, 10, 20] {
        let mean = optimal_policy_return(length, 20_000);
        let optimum = reach::optimal_return(length);
        assert!(
            (mean - optimum).abs() < 0.1,
            "length {length}: {mean} vs {optimum}"
        );
    }
}

#[test]
fn the_library_api_trains_reach_close_to_the_optimum() {
    let dir = temp_dir("custom-env-api");
    let comparisons = example::train_reach(&reach::registry(), &dir, None).unwrap();
    assert_eq!(comparisons.len(), 2);
    for c in &comparisons {
        assert!(c.random < c.optimal - 25.0, "{c:?}");
        assert!(c.trained > c.optimal - 1.0, "not near the optimum: {c:?}");
    }
    assert!(dir.join("result.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `args` run as the example binary runs them with arguments (`polytask::app`).
fn polytask(args: &[&str], registry: &Registry) -> anyhow::Result<()> {
    let args = std::iter::once("polytask").chain(args.iter().copied());
    polytask::app::run(Cli::try_parse_from(args)?, registry)
}

#[test]
fn the_command_line_lists_and_trains_reach() {
    let registry = reach::registry();
    let listing = polytask::commands::envs::listing(&registry);
    assert!(
        listing.contains("Reach-v0") && listing.contains("--param length=10"),
        "{listing}"
    );
    let dir = temp_dir("custom-env-cli");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/custom_env/reach.toml");
    let run_dir = format!("logging.run_dir={:?}", dir.display().to_string());
    let args = [
        "train",
        config.to_str().unwrap(),
        "--set",
        "total_timesteps=1024",
        "--set",
        &run_dir,
        "--run-name",
        "cli",
        "--quiet",
    ];
    polytask(&args, &registry).unwrap();
    let result = std::fs::read_to_string(dir.join("cli/result.json")).unwrap();
    assert!(
        result.contains("reach-10") && result.contains("reach-20"),
        "{result}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Rust snippets of the docs/custom-envs.md section "Add your own environment", each
/// split at `// ...` lines into pieces, as lines with the indentation trimmed.
fn documented_snippets() -> Vec<String> {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/custom-envs.md"))
            .unwrap();
    let start = page
        .find("\n## Add your own environment\n")
        .expect("docs/custom-envs.md has the section");
    let section = &page[start + 1..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut snippets = Vec::new();
    let mut lines = section.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != "```rust" {
            continue;
        }
        let mut piece = Vec::new();
        for line in lines.by_ref().take_while(|l| *l != "```") {
            if line == "// ..." {
                snippets.push(piece.join("\n"));
                piece.clear();
            } else {
                piece.push(line);
            }
        }
        snippets.push(piece.join("\n"));
    }
    snippets
}

#[test]
fn the_docs_show_the_examples_code() {
    let trimmed = |file: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(str::trim).collect::<Vec<_>>().join("\n")
    };
    let example = [
        trimmed("examples/custom_env/reach.rs"),
        trimmed("examples/custom_env/main.rs"),
    ];
    let snippets = documented_snippets();
    assert!(snippets.len() >= 5, "{snippets:?}");
    // All but the build script for a crate of your own.
    for snippet in snippets.iter().filter(|s| !s.starts_with("// build.rs")) {
        assert!(
            example.iter().any(|file| file.contains(snippet.as_str())),
            "this docs/custom-envs.md snippet is not in examples/custom_env/:\n{snippet}"
        );
    }
}
