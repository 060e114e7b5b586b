//! Multi-task SAC end to end: CleanRL's SAC tags and both losses' surgery tags, `eval` of a SAC
//! checkpoint, a run killed mid-way and resumed ending bit for bit as the uninterrupted one
//! (replay buffers included), configs that do not suit SAC refused by key, and the learning
//! test: rl-zoo's settings reach a mean evaluation return of −200 on Pendulum-v1 within 20k
//! steps.

mod common;

use std::path::Path;

use common::{fingerprint, polytask, temp_dir, text};
use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::logger::MemoryLogger;

/// Two tasks with box actions of different sizes, truncations (MountainCar's 60-step limit),
/// a replay ring that wraps, GradVac (an aggregator with state) on both losses.
const TWO: &str = r#"
seed = 5
total_timesteps = 300
[algorithm]
name = "sac"
[sac]
learning_starts = 50
batch_size = 32
buffer_size = 200
[network]
hidden = [16, 16]
[surgery]
aggregator = "gradvac"
[logging]
checkpoint_interval = 40
log_interval = 10
eval_episodes = 1
quiet = true
[[tasks]]
name = "pendulum"
env = "Pendulum-v1"
num_envs = 2
[[tasks]]
name = "car"
env = "MountainCarContinuous-v0"
num_envs = 1
params = { max_episode_steps = 60 }
"#;

#[test]
fn a_run_logs_sacs_tags_evaluates_and_resumes_bit_identically() {
    let dir = temp_dir("sac-resume");
    std::fs::write(dir.join("c.toml"), TWO).unwrap();
    let train = |name: &str, resume: bool, failpoint: Option<&str>| {
        let mut args = vec!["train", "c.toml", "--run-name", name];
        if resume {
            args.push("--resume");
        }
        polytask(&dir, &args, failpoint)
    };
    let whole = train("whole", false, None);
    assert!(whole.status.success(), "{}", text(&whole));
    let reference = fingerprint(&dir.join("runs/whole"));
    let tags: Vec<&str> = reference.scalars.iter().map(|(t, ..)| t.as_str()).collect();
    for task in ["pendulum", "car"] {
        for what in ["qf1_values", "qf_loss", "actor_loss", "alpha", "alpha_loss"] {
            let tag = format!("losses/{task}/{what}");
            assert!(tags.contains(&tag.as_str()), "{tag} missing");
        }
        assert!(tags.contains(&format!("charts/{task}/episodic_return").as_str()));
    }
    for stage in ["critic", "actor"] {
        let tag = format!("surgery/{stage}/cos_sim/pendulum__car");
        assert!(tags.contains(&tag.as_str()), "{tag} missing");
    }
    // Updates from step 51 to 300, logged every 10th iteration.
    let alphas = (reference.scalars.iter()).filter(|(t, ..)| t == "losses/car/alpha");
    assert_eq!(alphas.count(), 25);
    let eval = polytask(&dir, &["eval", "runs/whole", "--episodes", "1"], None);
    assert!(eval.status.success(), "{}", text(&eval));
    assert!(text(&eval).contains("car:"), "{}", text(&eval));

    // Killed after the checkpoint of iteration 120, resumed: the same run.
    let killed = train("r", false, Some("train:iteration@130"));
    assert_eq!(killed.status.code(), None, "{}", text(&killed));
    let resumed = train("r", true, None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert_eq!(fingerprint(&dir.join("runs/r")), reference);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn configs_that_do_not_suit_sac_are_refused_by_key() {
    let dir = temp_dir("sac-refused");
    let cases = [
        (
            "[algorithm]\nname = \"sac\"\nnum_steps = 8\n",
            "Pendulum-v1",
            "algorithm.num_steps",
        ),
        ("[sac]\nbatch_size = 8\n", "Pendulum-v1", "[sac] section"),
        (
            "[algorithm]\nname = \"sac\"\n[sac]\nent_coef = \"auto_x\"\n",
            "Pendulum-v1",
            "sac.ent_coef",
        ),
        (
            "[algorithm]\nname = \"sac\"\n",
            "CartPole-v1",
            "discrete actions",
        ),
    ];
    for (section, env, named) in cases {
        let text_config =
            format!("total_timesteps = 100\n{section}[[tasks]]\nenv = \"{env}\"\nnum_envs = 1\n");
        std::fs::write(dir.join("bad.toml"), text_config).unwrap();
        let out = polytask(&dir, &["train", "bad.toml", "--quiet"], None);
        assert_eq!(out.status.code(), Some(2), "{named}: {}", text(&out));
        assert!(text(&out).contains(named), "{named}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// rl-zoo's SAC settings for Pendulum-v1 (configs/pendulum-sac.toml): the mean evaluation
/// return reaches −200 within its 20k steps (seed 1).
#[test]
fn sac_swings_pendulum_up_within_20k_steps() {
    let dir = temp_dir("sac-learn");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/pendulum-sac.toml");
    let sets = [
        "logging.quiet=true".to_string(),
        format!("logging.run_dir=\"{}\"", dir.display()),
    ];
    let config = RawConfig::load_with(&path, &sets)
        .unwrap()
        .validate(&Registry::builtin())
        .unwrap();
    assert_eq!(config.total_timesteps, 20_000);
    let mut logger = MemoryLogger::new();
    let outcome =
        polytask::train::train(&config, &Registry::builtin(), &dir.join("run"), &mut logger)
            .unwrap();
    let mean = outcome.evaluation[0].mean();
    assert!(mean >= -200.0, "mean evaluation return {mean}");
    let _ = std::fs::remove_dir_all(&dir);
}
