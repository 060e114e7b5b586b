//! The vector env against plain environments: thread-count invariance, mixed tasks with
//! different observation sizes, autoreset and final observations on truncation and
//! termination, panic propagation and clean shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use polytask::config::Task;
use polytask::envs::wrappers::{AutoReset, RecordEpisodeStatistics, Wrapper};
use polytask::envs::{
    Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Params, Registry, Space, Step,
};
use polytask::vec_env::{instance_seed, ContractViolation, RowStep, VecEnv, VecEnvError};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn task(name: &str, env: &str, num_envs: usize, params: &[(&str, f64)]) -> Task {
    Task {
        name: name.to_string(),
        env: env.to_string(),
        params: params.iter().map(|&(k, v)| (k, v)).collect(),
        num_envs,
        role: polytask::config::Role::Main,
        normalize_obs: false,
        normalize_reward: false,
        threshold: None,
        obs_shape: Vec::new(),
    }
}

/// CartPole, Acrobot, Pendulum and MountainCarContinuous: observation sizes 4, 6, 3 and 2,
/// discrete and continuous actions, short time limits so that episodes end both ways.
fn mixed_tasks() -> Vec<Task> {
    vec![
        task("cartpole", "CartPole-v1", 5, &[("max_episode_steps", 40.0)]),
        task("acrobot", "Acrobot-v1", 3, &[("max_episode_steps", 30.0)]),
        task("pendulum", "Pendulum-v1", 4, &[("max_episode_steps", 25.0)]),
        task("car", "MountainCarContinuous-v0", 2, &[]),
        task("heavy-cartpole", "CartPole-v1", 3, &[("masspole", 0.5)]),
    ]
}

/// Everything a step produces, for comparing two vector envs.
#[derive(Debug, PartialEq)]
struct Snapshot {
    obs: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    finals: Vec<Option<Vec<f32>>>,
    episodes: Vec<(usize, f64, u64)>,
}

fn snapshot(env: &VecEnv) -> Snapshot {
    Snapshot {
        obs: env.observations().to_vec(),
        rewards: env.rewards().to_vec(),
        terminated: env.terminated().to_vec(),
        truncated: env.truncated().to_vec(),
        finals: (0..env.num_rows())
            .map(|r| env.final_observation(r).map(<[f32]>::to_vec))
            .collect(),
        episodes: env
            .finished_episodes()
            .map(|(t, e)| (t, e.episode_return, e.episode_length))
            .collect(),
    }
}

#[test]
fn the_thread_count_changes_nothing() {
    let registry = Registry::builtin();
    let tasks = mixed_tasks();
    let mut envs: Vec<VecEnv> = [1, 2, 3, 5, 17]
        .iter()
        .map(|&threads| VecEnv::new(&tasks, &registry, 11, threads).unwrap())
        .collect();
    assert_eq!(
        envs.iter().map(VecEnv::threads).collect::<Vec<_>>(),
        [1, 2, 3, 5, 17]
    );
    let mut rng = Pcg64::seed_from_u64(3);
    let mut actions = vec![0.0; envs[0].actions().len()];
    let mut episodes = 0;
    for step in 0..400 {
        common::random_actions(&envs[0], &mut rng, &mut actions);
        for env in &mut envs {
            env.actions_mut().copy_from_slice(&actions);
            env.step().unwrap();
        }
        let expected = snapshot(&envs[0]);
        for env in &envs[1..] {
            assert!(
                snapshot(env) == expected,
                "step {step}, {} threads",
                env.threads()
            );
        }
        episodes += expected.episodes.len();
    }
    assert!(episodes > 100, "{episodes}");
}

#[test]
fn mixed_tasks_get_their_own_blocks() {
    let registry = Registry::builtin();
    let env = VecEnv::new(&mixed_tasks(), &registry, 0, 2).unwrap();
    let dims: Vec<_> = env
        .tasks()
        .iter()
        .map(|t| (t.num_envs(), t.obs_dim, t.act_dim))
        .collect();
    assert_eq!(
        dims,
        [(5, 4, 1), (3, 6, 1), (4, 3, 1), (2, 2, 1), (3, 4, 1)]
    );
    assert_eq!(
        env.observations().len(),
        5 * 4 + 3 * 6 + 4 * 3 + 2 * 2 + 3 * 4
    );
    assert_eq!(env.num_rows(), 17);
    let mut start = 0;
    for (t, task) in env.tasks().iter().enumerate() {
        assert_eq!(task.obs.start, start);
        assert_eq!(
            env.task_observations(t).len(),
            task.num_envs() * task.obs_dim
        );
        assert!(env.row_tasks()[task.rows.clone()].iter().all(|&x| x == t));
        start = task.obs.end;
    }
}

/// The vector env must equal, row for row, a plain environment wrapped in
/// `AutoReset<RecordEpisodeStatistics<_>>` and seeded with `instance_seed`.
#[test]
fn every_row_equals_a_plain_autoreset_env_including_final_observations() {
    let registry = Registry::builtin();
    let tasks = mixed_tasks();
    let seed = 4;
    let mut vec_env = VecEnv::new(&tasks, &registry, seed, 3).unwrap();
    let mut plain = Vec::new();
    for (t, task) in tasks.iter().enumerate() {
        for k in 0..task.num_envs {
            let env = registry.make(&task.env, &task.params).unwrap();
            let mut env = AutoReset::new(RecordEpisodeStatistics::new(env));
            let mut obs = vec![0.0; env.observation_space().flat_dim()];
            env.reset(Some(instance_seed(seed, t, k)), &mut obs);
            plain.push((t, env, obs));
        }
    }
    let row_obs = |v: &VecEnv, row: usize| -> Vec<f32> {
        let task = &v.tasks()[v.row_tasks()[row]];
        let i = row - task.rows.start;
        v.task_observations(v.row_tasks()[row])[i * task.obs_dim..(i + 1) * task.obs_dim].to_vec()
    };
    for (row, (_, _, obs)) in plain.iter().enumerate() {
        assert_eq!(
            &row_obs(&vec_env, row),
            obs,
            "first observation of row {row}"
        );
    }
    let mut rng = Pcg64::seed_from_u64(9);
    let mut actions = vec![0.0; vec_env.actions().len()];
    let (mut truncations, mut terminations) = (0, 0);
    for step in 0..300 {
        common::random_actions(&vec_env, &mut rng, &mut actions);
        vec_env.actions_mut().copy_from_slice(&actions);
        vec_env.step().unwrap();
        for (row, (t, env, obs)) in plain.iter_mut().enumerate() {
            let task = &vec_env.tasks()[*t];
            let i = row - task.rows.start;
            let a = &actions[task.actions.start + i * task.act_dim..][..task.act_dim];
            let s = env
                .step(Action::from_flat(&task.action_space, a), obs)
                .unwrap();
            let at = format!("step {step}, row {row} ({})", task.name);
            assert_eq!(&row_obs(&vec_env, row), obs, "{at}");
            assert_eq!(vec_env.rewards()[row], s.reward as f32, "{at}");
            assert_eq!(vec_env.terminated()[row], s.terminated, "{at}");
            assert_eq!(vec_env.truncated()[row], s.truncated, "{at}");
            assert_eq!(
                vec_env.final_observation(row),
                env.final_observation(),
                "{at}"
            );
            assert_eq!(vec_env.episode(row), env.inner_mut().take_episode(), "{at}");
            truncations += usize::from(s.truncated);
            terminations += usize::from(s.terminated);
        }
    }
    assert!(
        truncations > 20 && terminations > 20,
        "{truncations} {terminations}"
    );
}

#[test]
fn a_truncated_episode_keeps_its_last_observation() {
    let registry = Registry::builtin();
    let tasks = [task("p", "Pendulum-v1", 3, &[("max_episode_steps", 3.0)])];
    let mut vec_env = VecEnv::new(&tasks, &registry, 8, 2).unwrap();
    let mut manual: Vec<_> = (0..3)
        .map(|k| {
            let mut env = registry.make("Pendulum-v1", &Params::new()).unwrap();
            let mut obs = [0.0; 3];
            env.reset(Some(instance_seed(8, 0, k)), &mut obs);
            (env, obs)
        })
        .collect();
    for step in 1..=3 {
        vec_env.actions_mut().copy_from_slice(&[0.5, -1.0, 2.0]);
        vec_env.step().unwrap();
        for (k, (env, obs)) in manual.iter_mut().enumerate() {
            let action = [vec_env.actions()[k]];
            env.step(Action::Continuous(&action), obs).unwrap();
        }
        assert_eq!(vec_env.truncated(), [step == 3; 3]);
        assert_eq!(vec_env.terminated(), [false; 3]);
    }
    for (k, (env, obs)) in manual.iter_mut().enumerate() {
        assert_eq!(vec_env.final_observation(k), Some(&obs[..]), "row {k}");
        assert_eq!(
            &vec_env.task_final_observations(0)[3 * k..3 * k + 3],
            &obs[..]
        );
        // The row now holds the next episode's first observation, drawn from the
        // continuing random stream.
        env.reset(None, obs);
        assert_eq!(
            &vec_env.observations()[3 * k..3 * k + 3],
            &obs[..],
            "row {k}"
        );
        let stats = vec_env.episode(k).unwrap();
        assert_eq!(stats.episode_length, 3);
    }
    assert_eq!(vec_env.finished_episodes().count(), 3);
}

// ---- environments that misbehave on purpose ----

/// Counts instances of [`Probe`] made and dropped, to check that shutdown drops them all.
static PROBES_MADE: AtomicUsize = AtomicUsize::new(0);
static PROBES_DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A one-dimensional environment that panics on its `panic_at`-th step (never when 0) and
/// counts its life in `PROBES_*` when `count` is 1.
struct Probe {
    t: u64,
    panic_at: u64,
    count: bool,
    obs_space: Space,
    act_space: Space,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.count {
            PROBES_DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Env for Probe {
    fn id(&self) -> &str {
        "Probe-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>, obs: &mut [f32]) {
        obs[0] = 0.0;
    }
    fn step(&mut self, _action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        self.t += 1;
        if self.t == self.panic_at {
            panic!("probe exploded at step {}", self.t);
        }
        obs[0] = self.t as f32;
        Ok(Step {
            reward: 1.0,
            terminated: false,
            truncated: false,
        })
    }
}

fn probe_registry() -> Registry {
    const PARAMS: [ParamSpec; 2] = [
        ParamSpec {
            name: "panic_at",
            default: 0.0,
            doc: "the step that panics (0: none)",
        },
        ParamSpec {
            name: "count",
            default: 0.0,
            doc: "1: count instances made and dropped",
        },
    ];
    let mut registry = Registry::builtin();
    registry.register(
        EnvSpec::new("Probe-v0", &PARAMS, |p| {
            let count = p.get("count") == 1.0;
            if count {
                PROBES_MADE.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Box::new(Probe {
                t: 0,
                panic_at: p.get("panic_at") as u64,
                count,
                obs_space: Space::Box(BoxSpace::new(vec![0.0], vec![f32::INFINITY])),
                act_space: Space::Discrete(2),
            }))
        })
        .max_episode_steps(1000),
    );
    registry
}

#[test]
fn a_panic_becomes_an_error_naming_the_env_within_a_second() {
    let registry = probe_registry();
    // The probe first (its row in the calling thread's shard) and last (with more than one
    // thread, in a worker's).
    for probe_first in [true, false] {
        for threads in [1, 2, 3] {
            let mut tasks = vec![
                task("cartpole", "CartPole-v1", 6, &[]),
                task("probe", "Probe-v0", 1, &[("panic_at", 7.0)]),
            ];
            if probe_first {
                tasks.reverse();
            }
            let mut env = VecEnv::new(&tasks, &registry, 0, threads).unwrap();
            for _ in 0..6 {
                env.step().unwrap();
            }
            let start = Instant::now();
            let err = env.step().unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(1));
            let probe = &env.tasks()[usize::from(!probe_first)];
            match &err {
                VecEnvError::Panic {
                    task,
                    env: id,
                    row,
                    at,
                    message,
                    location,
                } => {
                    assert_eq!((task.as_str(), id.as_str()), ("probe", "Probe-v0"));
                    assert_eq!(*row, probe.rows.start);
                    let seventh = RowStep {
                        step: 7,
                        episode_step: 7,
                    };
                    assert_eq!(*at, seventh);
                    assert_eq!(message, "probe exploded at step 7");
                    let location = location.as_deref().unwrap_or_default();
                    assert!(location.starts_with("tests/vec_env.rs:"), "{location}");
                }
                other => panic!("{other}"),
            }
            let text = err.to_string();
            assert!(
                text.contains("Probe-v0") && text.contains("exploded"),
                "{text}"
            );
            assert!(
                text.contains("(row ") && text.contains(", step 7, episode step 7)"),
                "{text}"
            );
            // Later steps refuse, and dropping returns at once.
            let again = env.step().unwrap_err();
            assert!(matches!(again, VecEnvError::Poisoned { .. }), "{again}");
            assert!(again.to_string().contains("exploded"), "{again}");
            let start = Instant::now();
            drop(env);
            assert!(start.elapsed() < Duration::from_secs(1));
        }
    }
}

#[test]
fn dropping_joins_the_workers_and_drops_every_env() {
    let registry = probe_registry();
    let tasks = [
        task("probe", "Probe-v0", 7, &[("count", 1.0)]),
        task("cartpole", "CartPole-v1", 3, &[]),
    ];
    let start = Instant::now();
    for round in 0..30 {
        let mut env = VecEnv::new(&tasks, &registry, round, 1 + round as usize % 4).unwrap();
        for _ in 0..round % 3 {
            env.step().unwrap();
        }
        drop(env);
        // Every instance was dropped by the time `drop` returned: the workers that owned
        // them have ended.
        assert_eq!(
            PROBES_DROPPED.load(Ordering::SeqCst),
            PROBES_MADE.load(Ordering::SeqCst)
        );
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    // An idle vector env (its workers parked) also shuts down at once.
    let env = VecEnv::new(&tasks, &registry, 0, 3).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    drop(env);
    assert!(start.elapsed() < Duration::from_millis(500));
}

/// A one-dimensional environment with a `success` metric: 1 on its `success_at`-th step of
/// each episode (never when 0), NaN on its `nan_at`-th step (never when 0), else 0; its
/// episodes terminate after `length` steps. It saves its state (the step counter).
struct Scored {
    t: u64,
    success_at: u64,
    nan_at: u64,
    length: u64,
    names: Vec<String>,
    values: [f32; 1],
    obs_space: Space,
    act_space: Space,
}

impl Env for Scored {
    fn id(&self) -> &str {
        "Scored-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>, obs: &mut [f32]) {
        self.t = 0;
        self.values = [0.0];
        obs[0] = 0.0;
    }
    fn step(&mut self, _action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        self.t += 1;
        self.values[0] = match self.t {
            t if t == self.success_at => 1.0,
            t if t == self.nan_at => f32::NAN,
            _ => 0.0,
        };
        obs[0] = self.t as f32;
        Ok(Step {
            reward: 1.0,
            terminated: self.t == self.length,
            truncated: false,
        })
    }
    fn metric_names(&self) -> &[String] {
        &self.names
    }
    fn metrics(&self) -> &[f32] {
        &self.values
    }
    fn save_state(&self) -> Option<Vec<u8>> {
        Some(self.t.to_le_bytes().to_vec())
    }
    fn load_state(&mut self, state: &[u8]) -> Result<(), EnvError> {
        self.t = u64::from_le_bytes(state.try_into().unwrap());
        Ok(())
    }
}

fn scored_registry() -> Registry {
    const PARAMS: [ParamSpec; 3] = [
        ParamSpec {
            name: "success_at",
            default: 0.0,
            doc: "the step of each episode whose success is 1 (0: none)",
        },
        ParamSpec {
            name: "nan_at",
            default: 0.0,
            doc: "the step whose success is NaN (0: none)",
        },
        ParamSpec {
            name: "length",
            default: 5.0,
            doc: "steps per episode",
        },
    ];
    let mut registry = Registry::builtin();
    registry.register(EnvSpec::new("Scored-v0", &PARAMS, |p| {
        Ok(Box::new(Scored {
            t: 0,
            success_at: p.get("success_at") as u64,
            nan_at: p.get("nan_at") as u64,
            length: p.get("length") as u64,
            names: vec!["success".to_string()],
            values: [0.0],
            obs_space: Space::Box(BoxSpace::new(vec![0.0], vec![f32::INFINITY])),
            act_space: Space::Discrete(2),
        }))
    }));
    registry
}

/// A task that succeeds on step 3 of its 5-step episodes, a native task without metrics, and
/// a task that never succeeds.
fn scored_tasks() -> Vec<Task> {
    vec![
        task("lucky", "Scored-v0", 3, &[("success_at", 3.0)]),
        task("cartpole", "CartPole-v1", 2, &[]),
        task("unlucky", "Scored-v0", 2, &[]),
    ]
}

#[test]
fn an_episode_metric_is_its_maximum_over_the_episode() {
    let registry = scored_registry();
    for threads in [1, 2, 3] {
        let mut env = VecEnv::new(&scored_tasks(), &registry, 0, threads).unwrap();
        let names: Vec<&[String]> = env.tasks().iter().map(|t| &t.metrics[..]).collect();
        assert_eq!(
            names,
            [&["success".to_string()][..], &[], &["success".to_string()]]
        );
        assert_eq!(env.tasks()[1].episode_metrics.len(), 0);
        assert_eq!(env.tasks()[2].episode_metrics, 3..5);
        for step in 1..=15 {
            env.step().unwrap();
            let ended = step % 5 == 0;
            for row in 0..env.num_rows() {
                let task = env.row_tasks()[row];
                assert_eq!(
                    env.episode_metrics(row).len(),
                    env.tasks()[task].metrics.len()
                );
                if task != 1 {
                    assert_eq!(env.terminated()[row], ended, "row {row} step {step}");
                }
                if ended && task != 1 {
                    // Success was 1 on step 3 only, and 0 on the last step: the maximum counts.
                    let expected = if task == 0 { 1.0 } else { 0.0 };
                    assert_eq!(env.episode_metrics(row), [expected], "row {row}");
                }
            }
        }
    }
}

#[test]
fn a_non_finite_metric_is_a_contract_violation_naming_it() {
    let registry = scored_registry();
    let tasks = [task("nan", "Scored-v0", 2, &[("nan_at", 2.0)])];
    let mut env = VecEnv::new(&tasks, &registry, 0, 1).unwrap();
    env.step().unwrap();
    let err = env.step().unwrap_err();
    match &err {
        VecEnvError::Contract {
            row: 0, violation, ..
        } => assert!(
            matches!(violation, ContractViolation::MetricNotFinite { metric, value } if metric == "success" && value.is_nan()),
            "{err}"
        ),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("metric `success` = NaN"), "{err}");
}

#[test]
fn a_resumed_vector_env_continues_the_episode_metrics() {
    let registry = scored_registry();
    let tasks = scored_tasks();
    let mut first = VecEnv::new(&tasks, &registry, 0, 2).unwrap();
    // Past the successful step 3 of the second episode, which ends on step 10.
    for _ in 0..8 {
        first.step().unwrap();
    }
    let saved = first.save_state();
    assert_eq!(saved.rows[0].metrics, [1.0]);
    assert_eq!(saved.rows[3].metrics, Vec::<f32>::new());
    let mut resumed = VecEnv::new(&tasks, &registry, 0, 1).unwrap();
    let fresh = resumed.load_state(&saved).unwrap();
    assert!(
        fresh.iter().all(|(name, _, _)| name == "cartpole"),
        "{fresh:?}"
    );
    for _ in 0..2 {
        first.step().unwrap();
        resumed.step().unwrap();
    }
    for row in [0, 1, 2, 5, 6] {
        assert!(resumed.terminated()[row]);
        assert_eq!(
            resumed.episode_metrics(row),
            first.episode_metrics(row),
            "row {row}"
        );
    }
    assert_eq!(resumed.episode_metrics(0), [1.0]);
}
