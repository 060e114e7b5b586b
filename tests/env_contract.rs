//! Environments that break the `Env` contract during training: the vector env stops with an
//! error naming the task, environment id, row and step (NaN or infinite observations and
//! rewards, observations shorter or longer than the observation space, invalid continuous
//! actions), and `polytask train` reports it in one paragraph with exit code 1, without a
//! panic report.

mod common;

use common::temp_dir;
use std::path::Path;
use std::process::Command;

use clap::Parser;
use polytask::commands::Cli;
use polytask::config::{RawConfig, Task};
use polytask::envs::{
    invalid_action, Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Registry, Resolved, Space,
    Step,
};
use polytask::vec_env::{ContractViolation, RowStep, VecEnv, VecEnvError};

/// An environment with faults switched on by parameters; each `*_at` counts the instance's
/// steps since it was made (across episodes), 0 meaning never. Observation: `dim` values,
/// `writes` of them written, each `t / 100` for the episode's step `t`; reward 1; episodes
/// end after 5 steps (its time limit).
struct Faulty {
    writes: usize,
    nan_obs_at: u64,
    nan_reward_at: u64,
    /// Which reset writes NaN: 1 is the first.
    nan_reset: u64,
    steps: u64,
    resets: u64,
    t: u64,
    observation_space: Space,
    action_space: Space,
}

const PARAMS: [ParamSpec; 6] = [
    ParamSpec {
        name: "dim",
        default: 2.0,
        doc: "observation space size",
    },
    ParamSpec {
        name: "writes",
        default: 2.0,
        doc: "observation elements written",
    },
    ParamSpec {
        name: "nan_obs_at",
        default: 0.0,
        doc: "step that writes a NaN observation",
    },
    ParamSpec {
        name: "nan_reward_at",
        default: 0.0,
        doc: "step with a NaN reward",
    },
    ParamSpec {
        name: "nan_reset",
        default: 0.0,
        doc: "reset that writes NaN (1: the first)",
    },
    ParamSpec {
        name: "box_actions",
        default: 0.0,
        doc: "1: Box(-1, 1, [1]) actions",
    },
];

impl Faulty {
    fn new(p: &Resolved<'_>) -> Self {
        let dim = p.get("dim") as usize;
        let action_space = match p.get("box_actions") {
            0.0 => Space::Discrete(2),
            _ => Space::Box(BoxSpace::new(vec![-1.0], vec![1.0])),
        };
        Self {
            writes: p.get("writes") as usize,
            nan_obs_at: p.get("nan_obs_at") as u64,
            nan_reward_at: p.get("nan_reward_at") as u64,
            nan_reset: p.get("nan_reset") as u64,
            steps: 0,
            resets: 0,
            t: 0,
            observation_space: Space::Box(BoxSpace::new(vec![-1.0; dim], vec![1.0; dim])),
            action_space,
        }
    }

    fn write(&self, obs: &mut [f32], nan: bool) {
        // Indexing, as a hand-written environment would: past the slice's end it panics.
        #[allow(clippy::needless_range_loop)]
        for i in 0..self.writes {
            obs[i] = self.t as f32 / 100.0;
        }
        if nan {
            obs[0] = f32::NAN;
        }
    }
}

impl Env for Faulty {
    fn id(&self) -> &str {
        "Faulty-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(&mut self, _seed: Option<u64>, obs: &mut [f32]) {
        self.resets += 1;
        self.t = 0;
        self.write(obs, self.resets == self.nan_reset);
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        if !matches!(action, Action::Discrete(0 | 1))
            && !matches!(action, Action::Continuous(&[a]) if a.is_finite())
        {
            return Err(invalid_action(self.id(), action, &self.action_space));
        }
        self.steps += 1;
        self.t += 1;
        self.write(obs, self.steps == self.nan_obs_at);
        let reward = if self.steps == self.nan_reward_at {
            f64::NAN
        } else {
            1.0
        };
        Ok(Step {
            reward,
            terminated: false,
            truncated: false,
        })
    }
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register(
        EnvSpec::new("Faulty-v0", &PARAMS, |p| Ok(Box::new(Faulty::new(p)))).max_episode_steps(5),
    );
    registry
}

/// Three CartPoles, then two faulty environments with `params` (rows 3 and 4), stepped by
/// `threads` threads (0: automatic, which first times a step of each task).
fn config_toml(params: &str, threads: usize) -> String {
    format!(
        r#"
total_timesteps = 256
device = "cpu"
threads = {threads}
[algorithm]
num_steps = 16
update_epochs = 1
[logging]
eval_episodes = 0
[[tasks]]
name = "cartpole"
env = "CartPole-v1"
num_envs = 3
[[tasks]]
name = "faulty"
env = "Faulty-v0"
num_envs = 2
params = {{ {params} }}
"#
    )
}

fn tasks(params: &str) -> Vec<Task> {
    let raw: RawConfig = toml::from_str(&config_toml(params, 1)).unwrap();
    raw.validate(&registry()).unwrap().tasks
}

/// Steps the vector env (with random-free constant actions) until it fails.
fn failure(params: &str, threads: usize) -> VecEnvError {
    let mut env = match VecEnv::new(&tasks(params), &registry(), 0, threads) {
        Ok(env) => env,
        Err(err) => return err,
    };
    for _ in 0..100 {
        if let Err(err) = env.step() {
            return err;
        }
    }
    panic!("{params}: no failure in 100 steps");
}

fn contract(err: &VecEnvError) -> (usize, RowStep, ContractViolation) {
    match err {
        VecEnvError::Contract {
            task,
            env,
            row,
            at,
            violation,
        } => {
            assert_eq!((task.as_str(), env.as_str()), ("faulty", "Faulty-v0"));
            (*row, *at, violation.clone())
        }
        other => panic!("not a contract error: {other}"),
    }
}

fn at(step: u64, episode_step: u64) -> RowStep {
    RowStep { step, episode_step }
}

#[test]
fn a_nan_observation_names_task_env_row_and_step() {
    for threads in [1, 2, 3] {
        let err = failure("nan_obs_at = 7", threads);
        let (row, step, violation) = contract(&err);
        assert_eq!((row, step), (3, at(7, 2)), "{err}");
        let ContractViolation::ObservationNotFinite {
            index: 0,
            value,
            obs_dim: 2,
        } = violation
        else {
            panic!("{err}");
        };
        assert!(value.is_nan());
        let text = err.to_string();
        assert!(
            text.starts_with(
                "task `faulty`, environment `Faulty-v0` (row 3, step 7, episode step 2) \
                 broke the Env contract: observation[0] = NaN is not finite"
            ),
            "{text}"
        );
        assert!(text.contains("check_env"), "{text}");
    }
}

#[test]
fn a_nan_reward_and_a_nan_reset_are_caught_too() {
    let err = failure("nan_reward_at = 3", 2);
    let (row, step, violation) = contract(&err);
    assert_eq!((row, step), (3, at(3, 3)));
    assert!(
        matches!(violation, ContractViolation::RewardNotFinite { value } if value.is_nan()),
        "{err}"
    );
    // The second reset follows the fifth step (the time limit).
    let err = failure("nan_reset = 2", 2);
    assert_eq!(contract(&err).1, at(5, 0));
    assert!(
        err.to_string().contains("(row 3, reset after step 5)"),
        "{err}"
    );
    // The first reset, when the vector env is made.
    let err = failure("nan_reset = 1", 2);
    assert_eq!(contract(&err).1, at(0, 0));
    assert!(err.to_string().contains("(row 3, first reset)"), "{err}");
}

#[test]
fn an_observation_shorter_than_its_space_is_caught_at_the_first_reset() {
    // Declares 3 values, writes 2: the third keeps the NaN the vector env filled in.
    let err = failure("dim = 3, writes = 2", 2);
    let (row, step, violation) = contract(&err);
    assert_eq!((row, step), (3, at(0, 0)));
    assert!(
        matches!(
            violation,
            ContractViolation::ObservationNotFinite {
                index: 2,
                obs_dim: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("does not write"), "{err}");
}

#[test]
fn an_observation_longer_than_its_space_is_a_panic_with_its_location() {
    // Declares 1 value, writes 2: indexing past the row's slice panics.
    for threads in [1, 2] {
        let err = failure("dim = 1, writes = 2", threads);
        let VecEnvError::Panic {
            task,
            env,
            row,
            at: step,
            message,
            location,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(
            (task.as_str(), env.as_str(), *row),
            ("faulty", "Faulty-v0", 3)
        );
        assert_eq!(*step, at(0, 0));
        assert!(message.contains("index out of bounds"), "{message}");
        let location = location.as_deref().unwrap_or_default();
        assert!(location.starts_with("tests/env_contract.rs:"), "{location}");
    }
}

#[test]
fn an_invalid_continuous_action_is_the_envs_error_with_the_step() {
    // The learner clips sampled actions into a Box's bounds, so only a NaN (a diverged
    // policy) reaches a continuous environment outside its space; the environment's own
    // InvalidAction error says so.
    let mut env = VecEnv::new(&tasks("box_actions = 1"), &registry(), 0, 2).unwrap();
    env.step().unwrap();
    env.task_actions_mut(1)[1] = f32::NAN;
    let err = env.step().unwrap_err();
    let VecEnvError::Step {
        row,
        at: step,
        cause: source,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*row, *step), (4, at(2, 2)));
    assert!(
        matches!(**source, EnvError::InvalidAction { .. }),
        "{source}"
    );
    assert_eq!(
        err.to_string(),
        "task `faulty`, environment `Faulty-v0` (row 4, step 2, episode step 2) failed: \
         environment `Faulty-v0`: action [NaN] is outside the action space \
         Box(-1, 1, [1], float32)"
    );
}

/// The environment variable that makes [`polytask_train_reports_a_broken_env_in_one_paragraph`]
/// the child process: it holds the config path.
const CHILD: &str = "POLYTASK_ENV_CONTRACT_CHILD";

/// Runs `polytask train` on `config` with the faulty environment registered, as this test
/// binary re-run with only the test below selected.
fn polytask_train(dir: &Path, config: &Path) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "polytask_train_reports_a_broken_env_in_one_paragraph",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, config)
        .env_remove("RUST_BACKTRACE")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn polytask_train_reports_a_broken_env_in_one_paragraph() {
    if let Some(config) = std::env::var_os(CHILD) {
        // The child: `polytask train CONFIG`, reported as polytask::app::main_with reports.
        let args = [
            "polytask".into(),
            "train".into(),
            config,
            "--quiet".into(),
            "--run-name".into(),
            "broken".into(),
        ];
        let code = match polytask::app::run(Cli::try_parse_from(args).unwrap(), &registry()) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("error: {err:#}");
                polytask::error::exit_code(&err)
            }
        };
        std::process::exit(code);
    }
    let dir = temp_dir("env-contract");
    let cases = [
        (
            "nan_obs_at = 20",
            "(row 3, step 20, episode step 5) broke the Env contract: observation[0] = NaN",
        ),
        (
            "dim = 1, writes = 2",
            "(row 3, first reset) panicked at tests/env_contract.rs:",
        ),
    ];
    // 0 and 2 threads: the vector env first times a step of each task on a spare instance,
    // which must stay quiet about the panic too.
    for ((params, needle), threads) in cases.iter().flat_map(|c| [(c, 0), (c, 2)]) {
        let config = dir.join("broken.toml");
        std::fs::write(&config, config_toml(params, threads)).unwrap();
        let out = polytask_train(&dir, &config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{params}: {stderr}");
        assert!(
            stderr.starts_with("error: task `faulty`, environment `Faulty-v0`"),
            "{stderr}"
        );
        assert!(
            stderr.contains(needle),
            "{params}: `{needle}` not in {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one paragraph: {stderr}"
        );
        assert!(
            !stderr.contains("thread '") && !stderr.contains("RUST_BACKTRACE"),
            "a panic report: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
