//! Every gradient-surgery method trains from a config: a few PPO updates of a two-task run per
//! aggregator name, with finite losses and, for methods with task weights, the weights logged.

mod common;

use common::temp_dir;
use std::path::Path;
use std::process::Command;

use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::logger::MemoryLogger;
use polytask_agents::surgery::NAMES;

fn two_tasks(aggregator: &str, params: &str, run_dir: &Path) -> String {
    format!(
        "seed = 1\ntotal_timesteps = 128\nthreads = 1\n\
         [algorithm]\nnum_steps = 16\nupdate_epochs = 1\nnum_minibatches = 2\n\
         [surgery]\naggregator = \"{aggregator}\"\n{params}\n\
         [logging]\nquiet = true\neval_episodes = 0\nrun_dir = \"{}\"\n\
         [[tasks]]\nname = \"a\"\nenv = \"CartPole-v1\"\nnum_envs = 2\n\
         [[tasks]]\nname = \"b\"\nenv = \"CartPole-v1\"\nnum_envs = 2\n\
         params = {{ masspole = 0.5, reward_scale = -1.0 }}\n",
        run_dir.display()
    )
}

#[test]
fn every_aggregator_trains_a_few_updates_from_a_config() {
    let dir = temp_dir("surgery-smoke");
    for name in NAMES {
        let raw: RawConfig = toml::from_str(&two_tasks(name, "", &dir)).unwrap();
        let config = raw.validate(&Registry::builtin()).unwrap();
        let mut logger = MemoryLogger::new();
        let run = dir.join(name);
        let outcome =
            polytask::train::train(&config, &Registry::builtin(), &run, &mut logger).unwrap();
        assert_eq!(outcome.task_steps, vec![128, 128], "{name}");
        for task in ["a", "b"] {
            let loss = logger.scalars(&format!("losses/{task}/policy_loss"));
            assert_eq!(loss.len(), 4, "{name}: one value per update");
            assert!(loss.iter().all(|(_, v)| v.is_finite()), "{name}");
        }
        let weights = logger.scalars("surgery/weight/a");
        if !matches!(*name, "sum" | "mean" | "graddrop") {
            assert_eq!(weights.len(), 4, "{name}: task weights logged");
            assert!(weights.iter().all(|(_, v)| v.is_finite()), "{name}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn aggregator_params_reach_the_method_and_bad_ones_are_usage_errors() {
    let dir = temp_dir("surgery-params");
    let ok = two_tasks("cagrad", "aggregator_params = { c = 0.4 }", &dir);
    let raw: RawConfig = toml::from_str(&ok).unwrap();
    assert_eq!(raw.surgery.params.get("c"), Some(&0.4));
    raw.validate(&Registry::builtin()).unwrap();

    std::fs::write(
        dir.join("bad.toml"),
        two_tasks("cagrad", "params = { c = -1.0 }", &dir),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(["train", "bad.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("surgery.params.c"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bench_surgery_reports_every_method_against_sum() {
    let out = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(["bench", "surgery", "--tasks", "3", "--params", "100"])
        .args(["--min-ms", "1", "--repeat", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in NAMES {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(name) && l.ends_with("× sum")),
            "{name}: {stdout}"
        );
    }
}
