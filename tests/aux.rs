//! Auxiliary tasks and task weightings from a config: every weighting trains a main task with
//! an auxiliary environment and both auxiliary losses, and logs `aux/weight/<row>` for every
//! row of the per-task gradients; bad combinations are usage errors that name the key.

use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::logger::MemoryLogger;
use polytask_agents::weighting::NAMES;

const CONFIG: &str = r#"
seed = 2
total_timesteps = 512
[algorithm]
num_steps = 32
update_epochs = 2
num_minibatches = 2
[logging]
eval_episodes = 1
[[tasks]]
name = "main"
env = "CartPole-v1"
num_envs = 4
[[tasks]]
name = "helper"
env = "Pendulum-v1"
role = "auxiliary"
num_envs = 2
[[aux_losses]]
kind = "reward-prediction"
task = "main"
[[aux_losses]]
name = "dynamics"
kind = "forward-dynamics"
task = "helper"
coef = 0.5
"#;

fn config(extra: &str) -> anyhow::Result<polytask::config::Config> {
    let raw: RawConfig = toml::from_str(&format!("{CONFIG}\n{extra}"))?;
    raw.validate(&Registry::builtin())
}

#[test]
fn every_weighting_trains_with_auxiliary_tasks_and_losses() {
    let rows = ["main", "helper", "main-reward-prediction", "dynamics"];
    for name in NAMES {
        let config = config(&format!("[weighting]\nname = \"{name}\"")).unwrap();
        let dir = std::env::temp_dir().join(format!("polytask-aux-{name}-{}", std::process::id()));
        let mut logger = MemoryLogger::new();
        let outcome = polytask::train::train(&config, &Registry::builtin(), &dir, &mut logger)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        // The task with fewer environments sets the iterations: 512 / (32 × 2) = 8.
        assert_eq!(outcome.task_steps, vec![1024, 512], "{name}");
        for row in rows {
            let norm = logger.scalars(&format!("surgery/grad_norm/{row}"));
            assert!(
                !norm.is_empty() && norm.iter().all(|(_, v)| v.is_finite()),
                "{name} {row}"
            );
            let weights = logger.scalars(&format!("aux/weight/{row}"));
            if *name == "none" {
                assert!(weights.is_empty(), "no weighting, no weights");
            } else {
                assert_eq!(weights.len(), norm.len(), "{name} {row}");
                assert!(
                    weights.iter().all(|(_, w)| w.is_finite() && *w >= 0.0),
                    "{name} {row}"
                );
            }
        }
        for loss in ["main-reward-prediction", "dynamics"] {
            let l = logger.scalars(&format!("losses/{loss}/prediction_loss"));
            assert!(!l.is_empty() && l.iter().all(|(_, v)| v.is_finite() && *v >= 0.0));
        }
        if ["cosine-gating", "hydalearn", "arml", "ol-aux"].contains(name) {
            // Auxiliary-task methods keep the main task at weight 1.
            assert!(
                logger
                    .scalars("aux/weight/main")
                    .iter()
                    .all(|(_, w)| *w == 1.0),
                "{name}"
            );
        }
        if *name == "hydalearn" {
            assert!(!logger.scalars("aux/gain/helper").is_empty());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn the_prediction_heads_learn_their_targets() {
    // Reward prediction on CartPole (reward 1 every step) is learnt almost exactly.
    let mut c = config("").unwrap();
    c.total_timesteps = 4096;
    let dir = std::env::temp_dir().join(format!("polytask-aux-learn-{}", std::process::id()));
    let mut logger = MemoryLogger::new();
    polytask::train::train(&c, &Registry::builtin(), &dir, &mut logger).unwrap();
    let losses = logger.scalars("losses/main-reward-prediction/prediction_loss");
    let (first, last) = (losses[0].1, losses[losses.len() - 1].1);
    assert!(last < 0.05 * first && last < 0.01, "{first} -> {last}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_roles_weightings_and_auxiliary_losses_name_their_key() {
    let cases = [
        ("[weighting]\nname = \"uncertainy\"", "weighting.name"),
        (
            "[weighting]\nname = \"gradnorm\"\nparams = { alpah = 1 }",
            "weighting.params.alpah",
        ),
        (
            "[weighting]\nname = \"dwa\"\n[surgery]\naggregator = \"mgda\"",
            "mgda",
        ),
        (
            "[weighting]\nname = \"hydalearn\"\n[surgery]\naggregator = \"cagrad\"",
            "cagrad",
        ),
    ];
    for (extra, needle) in cases {
        let err = format!("{:#}", config(extra).unwrap_err());
        assert!(err.contains(needle), "{extra}: `{needle}` not in {err}");
    }
    let bad_role = CONFIG.replace("role = \"auxiliary\"", "role = \"helper\"");
    let raw: RawConfig = toml::from_str(&bad_role).unwrap();
    let err = raw.validate(&Registry::builtin()).unwrap_err().to_string();
    assert!(
        err.contains("tasks[1].role") && err.contains("helper"),
        "{err}"
    );
    let bad_task = CONFIG.replace("task = \"helper\"", "task = \"helpr\"");
    let raw: RawConfig = toml::from_str(&bad_task).unwrap();
    let err = raw.validate(&Registry::builtin()).unwrap_err().to_string();
    assert!(
        err.contains("aux_losses[1].task") && err.contains("helpr"),
        "{err}"
    );
    // An auxiliary-task method needs a main task.
    let no_main = CONFIG.replace(
        "name = \"main\"\nenv",
        "name = \"main\"\nrole = \"auxiliary\"\nenv",
    );
    let raw: RawConfig =
        toml::from_str(&format!("{no_main}\n[weighting]\nname = \"arml\"")).unwrap();
    let err = raw.validate(&Registry::builtin()).unwrap_err().to_string();
    assert!(
        err.contains("weighting.name") && err.contains("main"),
        "{err}"
    );
}

/// A MinAtar game with SXL's Moran's I maps as an auxiliary loss, at three resolutions.
const MORANS_I: &str = r#"
seed = 4
total_timesteps = 4096
[algorithm]
num_steps = 64
update_epochs = 4
[logging]
eval_episodes = 0
[[tasks]]
name = "breakout"
env = "MinAtar/Breakout-v1"
num_envs = 8
[[aux_losses]]
kind = "morans-i"
task = "breakout"
resolutions = [1, 2, 5]
"#;

#[test]
fn the_morans_i_head_learns_the_maps_of_a_minatar_game() {
    let raw: RawConfig = toml::from_str(MORANS_I).unwrap();
    let c = raw.validate(&Registry::builtin()).unwrap();
    let maps = c.aux_losses[0]
        .maps
        .as_ref()
        .map(|m| (m.image, m.resolutions.clone()));
    assert_eq!(maps, Some(([10, 10, 4], vec![1, 2, 5])));
    let dir = std::env::temp_dir().join(format!("polytask-aux-sxl-{}", std::process::id()));
    let mut logger = MemoryLogger::new();
    polytask::train::train(&c, &Registry::builtin(), &dir, &mut logger).unwrap();
    let losses = logger.scalars("losses/breakout-morans-i/prediction_loss");
    assert_eq!(losses.len(), 8, "one per update");
    let (first, last) = (losses[0].1, losses[losses.len() - 1].1);
    assert!(last < 0.7 * first, "{first} -> {last}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn morans_i_needs_an_image_task_and_factors_that_divide_it() {
    let err = |text: String| {
        let raw: RawConfig = toml::from_str(&text).unwrap();
        raw.validate(&Registry::builtin()).unwrap_err().to_string()
    };
    let e = err(MORANS_I.replace("[1, 2, 5]", "[1, 4]"));
    assert!(
        e.contains("aux_losses[0].resolutions") && e.contains("10 × 10"),
        "{e}"
    );
    let e = err(MORANS_I.replace("[1, 2, 5]", "[]"));
    assert!(e.contains("aux_losses[0].resolutions"), "{e}");
    let e = err(MORANS_I.replace("MinAtar/Breakout-v1", "CartPole-v1"));
    assert!(e.contains("aux_losses[0]") && e.contains("image"), "{e}");
    let e = err(MORANS_I.replace("\"morans-i\"", "\"reward-prediction\""));
    assert!(
        e.contains("aux_losses[0].resolutions") && e.contains("morans-i"),
        "{e}"
    );
}
