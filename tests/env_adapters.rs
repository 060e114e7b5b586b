//! Training through the feature-gated environment adapters (see `envs/src/adapters/`):
//! a few PPO updates on Python Gymnasium's `gym:CartPole-v1` mixed with a native task in one
//! multi-task run (feature `python`), and on gymnasium-rs's CartPole through the
//! `GymnasiumRs` adapter (feature `gymnasium-rs`).
//!
//! The Python test is skipped with a message when Python Gymnasium is not importable;
//! `scripts/test` installs it and sets `POLYTASK_REQUIRE_GYMNASIUM=1`, which turns the skip
//! into a failure.

#![cfg(any(feature = "python", feature = "gymnasium-rs"))]

mod common;

use common::temp_dir;

use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::logger::MemoryLogger;
use polytask::train::TrainOutcome;

/// Trains PPO for `total` steps per task on `tasks` (TOML `[[tasks]]` tables), 2 threads,
/// 32 steps per update, and returns the outcome and the logger.
fn train(name: &str, registry: &Registry, total: u64, tasks: &str) -> (TrainOutcome, MemoryLogger) {
    let dir = temp_dir(name);
    let text = format!(
        "seed = 5\ntotal_timesteps = {total}\nthreads = 2\n[algorithm]\nnum_steps = 32\n\
         update_epochs = 2\nnum_minibatches = 2\n[logging]\nquiet = true\neval_episodes = 1\n\
         run_dir = \"{}\"\n{tasks}",
        dir.display()
    );
    let raw: RawConfig = toml::from_str(&text).unwrap();
    let config = raw.validate(registry).unwrap_or_else(|e| panic!("{e:#}"));
    let mut logger = MemoryLogger::new();
    let outcome = polytask::train::train(&config, registry, &dir.join("run"), &mut logger)
        .unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::remove_dir_all(dir).unwrap();
    (outcome, logger)
}

/// One finite value per update under `tag`.
fn per_update(logger: &MemoryLogger, tag: &str, updates: usize) -> Vec<f64> {
    let values: Vec<f64> = logger.scalars(tag).iter().map(|&(_, v)| v).collect();
    assert_eq!(values.len(), updates, "{tag}: one value per update");
    assert!(values.iter().all(|v| v.is_finite()), "{tag}: {values:?}");
    values
}

/// `gym:CartPole-v1` trains next to the native CartPole-v1 in one multi-task run, and since
/// its observations are the native ones, a run on it alone logs exactly the losses of the
/// same run on the native environment.
#[cfg(feature = "python")]
#[test]
fn ppo_trains_on_gym_cartpole_mixed_with_native_tasks() {
    if let Err(e) = polytask::envs::adapters::gymnasium_version() {
        if std::env::var_os("POLYTASK_REQUIRE_GYMNASIUM").is_some() {
            panic!("POLYTASK_REQUIRE_GYMNASIUM is set, but {e}");
        }
        eprintln!("SKIPPED ppo_trains_on_gym_cartpole_mixed_with_native_tasks: {e}");
        return;
    }
    let registry = Registry::builtin();
    let mixed = "[[tasks]]\nname = \"python\"\nenv = \"gym:CartPole-v1\"\nnum_envs = 4\n\
                 [[tasks]]\nname = \"native\"\nenv = \"Acrobot-v1\"\nnum_envs = 4\n";
    let (outcome, logger) = train("gym-mixed", &registry, 512, mixed);
    assert_eq!(outcome.task_steps, vec![512, 512]);
    assert_eq!(outcome.evaluation.len(), 2);
    per_update(&logger, "losses/python/value_loss", 4);
    per_update(&logger, "losses/native/entropy", 4);
    assert!(!logger.scalars("charts/python/episodic_return").is_empty());

    let alone = |env: &str| {
        let task = format!("[[tasks]]\nname = \"cartpole\"\nenv = \"{env}\"\nnum_envs = 2\n");
        let (_, logger) = train("gym-alone", &registry, 128, &task);
        per_update(&logger, "losses/cartpole/value_loss", 2)
    };
    assert_eq!(alone("gym:CartPole-v1"), alone("CartPole-v1"));
}

/// The gymnasium-rs CartPole, registered through the adapter, trains like any environment.
#[cfg(feature = "gymnasium-rs")]
#[test]
fn ppo_trains_on_the_gymnasium_rs_cartpole() {
    use gymnasium_rs::envs::cartpole::CartPole;
    use polytask::envs::adapters::GymnasiumRs;
    use polytask::envs::EnvSpec;

    let mut registry = Registry::builtin();
    registry.register(
        EnvSpec::new("RsCartPole-v1", &[], |_| {
            Ok(Box::new(GymnasiumRs::new(
                "RsCartPole-v1",
                CartPole::new(),
            )?))
        })
        .max_episode_steps(500),
    );
    let task = "[[tasks]]\nname = \"rs\"\nenv = \"RsCartPole-v1\"\nnum_envs = 4\n";
    let (outcome, logger) = train("gymnasium-rs", &registry, 256, task);
    assert_eq!(outcome.task_steps, vec![256]);
    per_update(&logger, "losses/rs/entropy", 2);
    assert!(!logger.scalars("charts/rs/episodic_return").is_empty());
}
