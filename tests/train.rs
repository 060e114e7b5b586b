//! End-to-end training: TensorBoard tags and values, checkpoints, `eval`, and a learning
//! test (PPO solves CartPole-v1 within 100k steps with rl-zoo's hyperparameters).

mod common;

use common::temp_dir;
use std::path::Path;
use std::process::Command;

use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::logger::{read_scalars, read_texts, MemoryLogger};

fn polytask(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

const TWO_TASKS: &str = r#"
seed = 3
total_timesteps = 512
threads = 2
[algorithm]
num_steps = 64
update_epochs = 2
num_minibatches = 2
[surgery]
aggregator = "pcgrad"
[logging]
eval_episodes = 2
checkpoint_interval = 2
[[tasks]]
name = "cartpole"
env = "CartPole-v1"
num_envs = 4
[[tasks]]
name = "heavy"
env = "CartPole-v1"
num_envs = 4
params = { masspole = 0.5, reward_scale = -1.0 }
"#;

#[test]
fn a_run_writes_every_tag_a_checkpoint_and_evaluates() {
    let dir = temp_dir("train-tags");
    std::fs::write(dir.join("two.toml"), TWO_TASKS).unwrap();
    let out = polytask(&["train", "two.toml", "--run-name", "r", "--quiet"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("eval cartpole:") && stdout.contains("eval heavy:"),
        "{stdout}"
    );
    let run = dir.join("runs/r");
    let scalars = read_scalars(&run).unwrap();
    let values = |tag: &str| -> Vec<(u64, f64)> {
        scalars
            .iter()
            .filter(|(t, _, _)| t == tag)
            .map(|(_, s, v)| (*s, *v))
            .collect()
    };
    for task in ["cartpole", "heavy"] {
        let returns = values(&format!("charts/{task}/episodic_return"));
        assert!(!returns.is_empty(), "no episodes logged for {task}");
        for (step, r) in &returns {
            assert!(*step <= 512, "a task's curve uses its own steps: {step}");
            let ok = if task == "cartpole" {
                (8.0..=500.0).contains(r)
            } else {
                (-500.0..=-8.0).contains(r)
            };
            assert!(ok, "{task} return {r}");
        }
        assert!(!values(&format!("charts/{task}/episodic_length")).is_empty());
        for loss in [
            "policy_loss",
            "value_loss",
            "entropy",
            "approx_kl",
            "clipfrac",
            "explained_variance",
        ] {
            let v = values(&format!("losses/{task}/{loss}"));
            assert_eq!(v.len(), 2, "losses/{task}/{loss}: one value per update");
        }
        let norms = values(&format!("surgery/grad_norm/{task}"));
        assert_eq!(
            norms.len(),
            2,
            "surgery/grad_norm/{task}: one value per update"
        );
        assert!(norms.iter().all(|(_, n)| *n > 0.0));
    }
    let lr = values("charts/learning_rate");
    assert_eq!(lr.len(), 2);
    assert!(
        (lr[0].1 - 1e-3).abs() < 1e-9 && (lr[1].1 - 5e-4).abs() < 1e-9,
        "linear annealing: {lr:?}"
    );
    let sps = values("charts/SPS");
    assert_eq!(sps.len(), 2, "charts/SPS: one value per update");
    assert!(sps.iter().all(|(_, v)| *v > 0.0));
    let cos = values("surgery/cos_sim/cartpole__heavy");
    assert!(cos.iter().all(|(_, c)| (-1.0..=1.0).contains(c)) && cos.len() == 2);
    let conflicts = values("surgery/conflicts");
    assert_eq!(
        conflicts.len(),
        2,
        "surgery/conflicts: one value per update"
    );
    assert!(conflicts.iter().all(|(_, c)| *c == 0.0 || *c == 1.0));
    let texts = read_texts(&run).unwrap();
    assert!(texts
        .iter()
        .any(|(tag, _, text)| tag == "config" && text.contains("pcgrad")));
    assert!(run.join("config.toml").exists());

    let eval = polytask(&["eval", "runs/r", "--episodes", "3"], &dir);
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(
        eval.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    assert!(
        text.contains("cartpole:") && text.contains("over 3 episodes"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_checkpoint_or_config_is_a_usage_error() {
    let dir = temp_dir("train-errors");
    let out = polytask(&["eval", "nowhere"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
    std::fs::write(
        dir.join("bad.toml"),
        "total_timesteps = 10\n[algorithm]\nlr = 1\n[[tasks]]\nenv = \"CartPole-v1\"",
    )
    .unwrap();
    let out = polytask(&["train", "bad.toml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lr"));
    let out = polytask(&["train", "missing.toml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// rl-zoo's PPO hyperparameters (configs/cartpole.toml) solve CartPole-v1 within 100k steps
/// for most seeds (9 of seeds 1–10 reach 500; rl-zoo's own runs vary by seed too): at least
/// two of seeds 1–3 must.
#[test]
fn ppo_solves_cartpole_within_100k_steps() {
    let dir = temp_dir("train-learn");
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/cartpole.toml");
    let mut returns = Vec::new();
    for seed in 1..=3 {
        let sets = [
            "logging.quiet=true".to_string(),
            format!("logging.run_dir=\"{}\"", dir.display()),
            "threads=1".to_string(),
            format!("seed={seed}"),
        ];
        let config = RawConfig::load_with(&config_path, &sets)
            .unwrap()
            .validate(&Registry::builtin())
            .unwrap();
        assert_eq!(config.total_timesteps, 100_000);
        let mut logger = MemoryLogger::new();
        let run = dir.join(format!("run{seed}"));
        let outcome =
            polytask::train::train(&config, &Registry::builtin(), &run, &mut logger).unwrap();
        returns.push(outcome.evaluation[0].mean());
    }
    let solved = returns.iter().filter(|&&r| r >= 475.0).count();
    assert!(solved >= 2, "evaluation returns of seeds 1-3: {returns:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A2C and PPO both train a mixed discrete/continuous task set with normalisation; the run's
/// checkpoint restores the normalisation statistics for `eval`.
#[test]
fn a2c_and_ppo_train_mixed_discrete_and_continuous_tasks() {
    for algorithm in ["a2c", "ppo"] {
        let dir = temp_dir(&format!("train-{algorithm}"));
        let text = format!(
            "total_timesteps = 256\nthreads = 1\n[algorithm]\nname = \"{algorithm}\"\nnum_steps = 16\n\
             [logging]\nquiet = true\neval_episodes = 1\nrun_dir = \"{}\"\n\
             [[tasks]]\nenv = \"Pendulum-v1\"\nnum_envs = 2\nnormalize_obs = true\nnormalize_reward = true\n\
             [[tasks]]\nenv = \"MountainCarContinuous-v0\"\nnum_envs = 2\n\
             [[tasks]]\nenv = \"Acrobot-v1\"\nnum_envs = 2\n",
            dir.display()
        );
        let raw: RawConfig = toml::from_str(&text).unwrap();
        let config = raw.validate(&Registry::builtin()).unwrap();
        let mut logger = MemoryLogger::new();
        let run = dir.join("run");
        let outcome =
            polytask::train::train(&config, &Registry::builtin(), &run, &mut logger).unwrap();
        assert_eq!(outcome.task_steps, vec![256, 256, 256], "{algorithm}");
        assert_eq!(outcome.evaluation.len(), 3);
        for task in ["Pendulum-v1", "MountainCarContinuous-v0", "Acrobot-v1"] {
            let entropy = logger.scalars(&format!("losses/{task}/entropy"));
            assert_eq!(entropy.len(), 8, "{algorithm} {task}: one value per update");
            assert!(entropy.iter().all(|(_, e)| e.is_finite()));
        }
        let state = polytask::train::Checkpoint::open(&run.join("checkpoint"))
            .unwrap()
            .state;
        assert!(state.normalizers[0].obs.is_some() && state.normalizers[1].obs.is_none());
        let eval = polytask(&["eval", run.to_str().unwrap(), "--episodes", "1"], &dir);
        assert!(
            eval.status.success(),
            "{}",
            String::from_utf8_lossy(&eval.stderr)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_resumed_run_continues_from_its_checkpoint() {
    let dir = temp_dir("train-resume");
    std::fs::write(dir.join("two.toml"), TWO_TASKS).unwrap();
    let args = ["train", "two.toml", "--run-name", "r", "--quiet"];
    let first = polytask(&args, &dir);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let state = |dir: &Path| {
        polytask::train::Checkpoint::open(&dir.join("runs/r/checkpoint"))
            .unwrap()
            .state
    };
    let before = state(&dir);
    assert_eq!(before.task_steps, vec![512, 512]);

    // Extending the budget is allowed: the run goes on from its 2 iterations to 4.
    let mut longer = args.to_vec();
    longer.extend(["--resume", "--set", "total_timesteps=1024"]);
    let second = polytask(&longer, &dir);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let after = state(&dir);
    assert_eq!(
        (after.iteration, after.task_steps.clone()),
        (4, vec![1024, 1024])
    );
    assert_eq!(after.optimizer_steps, 2 * before.optimizer_steps);
    let result = polytask::train::RunResult::read(&dir.join("runs/r"))
        .unwrap()
        .unwrap();
    assert_eq!(result.tasks[1].steps, 1024);
    // Episodes of the second start are logged after the first start's steps.
    let returns: Vec<u64> = read_scalars(&dir.join("runs/r"))
        .unwrap()
        .into_iter()
        .filter(|(tag, _, _)| tag == "charts/cartpole/episodic_return")
        .map(|(_, step, _)| step)
        .collect();
    assert!(returns.iter().any(|&s| s > 512), "{returns:?}");

    // Another config cannot resume this run.
    let mut other = args.to_vec();
    other.extend(["--resume", "--set", "algorithm.learning_rate=0.1"]);
    let refused = polytask(&other, &dir);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another config"));
    std::fs::remove_dir_all(dir).unwrap();
}
