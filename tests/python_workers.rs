//! Python (`gym:`) environments in worker processes: the same trajectories as in the training
//! process, bit for bit; mixed with native tasks; a killed worker, a worker that stops
//! answering and a worker whose environment cannot be made are errors naming the task, the
//! environment id and the rows, within a second of the cause (or the step timeout); dropping
//! the vector env reaps its workers; `polytask train` runs with `python_workers = 2`.
//!
//! Skipped with a message when Python Gymnasium is not importable; `scripts/test` installs
//! it and sets `POLYTASK_REQUIRE_GYMNASIUM=1`, which turns the skip into a failure.

#![cfg(feature = "python")]

mod common;

use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use polytask::config::Task;
use polytask::envs::Registry;
use polytask::vec_env::{Options, ProcessFault, VecEnv, VecEnvError};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Whether Python Gymnasium is importable (else the test is skipped, or fails when
/// `POLYTASK_REQUIRE_GYMNASIUM` is set). Also puts the test fixtures' Python folder on
/// `PYTHONPATH`, once, before any test of this file starts a process.
fn gymnasium(test: &str) -> bool {
    static PYTHONPATH: Once = Once::new();
    PYTHONPATH.call_once(|| {
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python");
        let path = match std::env::var_os("PYTHONPATH") {
            Some(old) if !old.is_empty() => {
                let mut paths = vec![fixtures];
                paths.extend(std::env::split_paths(&old));
                std::env::join_paths(paths).unwrap()
            }
            _ => fixtures.into_os_string(),
        };
        std::env::set_var("PYTHONPATH", path);
    });
    match polytask::envs::adapters::gymnasium_version() {
        Ok(_) => true,
        Err(e) if std::env::var_os("POLYTASK_REQUIRE_GYMNASIUM").is_some() => {
            panic!("POLYTASK_REQUIRE_GYMNASIUM is set, but {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: {e}");
            false
        }
    }
}

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

/// Options with `workers` worker processes running the built `polytask` binary.
fn options(workers: usize, threads: usize) -> Options {
    Options {
        threads,
        python_workers: Some(workers),
        worker_exe: Some(env!("CARGO_BIN_EXE_polytask").into()),
        ..Options::default()
    }
}

/// Everything a step produces, for comparing two vector envs.
#[derive(Debug, PartialEq)]
struct Snapshot {
    obs: Vec<u32>,
    rewards: Vec<u32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    finals: Vec<Option<Vec<u32>>>,
    episodes: Vec<(usize, u64, u64)>,
}

fn snapshot(env: &VecEnv) -> Snapshot {
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    Snapshot {
        obs: bits(env.observations()),
        rewards: bits(env.rewards()),
        terminated: env.terminated().to_vec(),
        truncated: env.truncated().to_vec(),
        finals: (0..env.num_rows())
            .map(|r| env.final_observation(r).map(bits))
            .collect(),
        episodes: env
            .finished_episodes()
            .map(|(t, e)| (t, e.episode_return.to_bits(), e.episode_length))
            .collect(),
    }
}

/// Steps every vector env of `envs` `steps` times with the same random actions and checks
/// that all produce the same buffers as the first; returns the episodes finished.
fn step_alike(envs: &mut [VecEnv], steps: usize) -> usize {
    let mut rng = Pcg64::seed_from_u64(7);
    let mut actions = vec![0.0; envs[0].actions().len()];
    let mut episodes = 0;
    assert_eq!(
        snapshot(&envs[0]).obs,
        snapshot(&envs[1]).obs,
        "first observations"
    );
    for step in 0..steps {
        common::random_actions(&envs[0], &mut rng, &mut actions);
        for env in envs.iter_mut() {
            env.actions_mut().copy_from_slice(&actions);
            env.step().unwrap();
        }
        let expected = snapshot(&envs[0]);
        for env in &envs[1..] {
            assert!(snapshot(env) == expected, "step {step}: {env:?}");
        }
        episodes += expected.episodes.len();
    }
    episodes
}

#[test]
fn worker_processes_step_exactly_as_the_training_process() {
    if !gymnasium("worker_processes_step_exactly_as_the_training_process") {
        return;
    }
    let registry = Registry::builtin();
    let tasks = [
        task(
            "cartpole",
            "gym:CartPole-v1",
            3,
            &[("max_episode_steps", 40.0)],
        ),
        task(
            "pendulum",
            "gym:Pendulum-v1",
            2,
            &[("max_episode_steps", 30.0)],
        ),
    ];
    let mut envs = vec![
        VecEnv::with_options(&tasks, &registry, 3, &options(0, 1)).unwrap(),
        VecEnv::with_options(&tasks, &registry, 3, &options(2, 1)).unwrap(),
        VecEnv::with_options(&tasks, &registry, 3, &options(1, 1)).unwrap(),
    ];
    assert_eq!(
        envs.iter().map(VecEnv::python_workers).collect::<Vec<_>>(),
        [0, 2, 1]
    );
    let rows: Vec<_> = envs[1]
        .worker_processes()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(rows, [0..2, 2..5]);
    let episodes = step_alike(&mut envs, 300);
    // Truncations of both tasks and CartPole's terminations.
    assert!(episodes > 25, "{episodes}");
}

#[test]
fn gym_tasks_in_processes_mix_with_native_tasks_in_threads() {
    if !gymnasium("gym_tasks_in_processes_mix_with_native_tasks_in_threads") {
        return;
    }
    let registry = Registry::builtin();
    let tasks = [
        task("native", "CartPole-v1", 3, &[]),
        task(
            "python",
            "gym:CartPole-v1",
            2,
            &[("max_episode_steps", 50.0)],
        ),
        task("acrobot", "Acrobot-v1", 2, &[("max_episode_steps", 30.0)]),
        task("pendulum", "gym:Pendulum-v1", 1, &[]),
    ];
    let mut envs = vec![
        VecEnv::with_options(&tasks, &registry, 9, &options(0, 1)).unwrap(),
        VecEnv::with_options(&tasks, &registry, 9, &options(1, 2)).unwrap(),
    ];
    // Each run of gym rows gets a process, though one was asked for.
    let rows: Vec<_> = envs[1]
        .worker_processes()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(rows, [3..5, 7..8]);
    assert!(step_alike(&mut envs, 200) > 10);
}

/// The error of a step expected to fail, and how long the step took.
fn failing_step(env: &mut VecEnv) -> (VecEnvError, Duration) {
    let start = Instant::now();
    let err = env.step().unwrap_err();
    (err, start.elapsed())
}

#[test]
fn a_killed_worker_fails_the_next_step_within_a_second_naming_its_rows() {
    if !gymnasium("a_killed_worker_fails_the_next_step_within_a_second_naming_its_rows") {
        return;
    }
    let registry = Registry::builtin();
    let tasks = [
        task("native", "CartPole-v1", 2, &[]),
        task("python", "gym:CartPole-v1", 4, &[]),
    ];
    let mut env = VecEnv::with_options(&tasks, &registry, 0, &options(2, 1)).unwrap();
    for _ in 0..5 {
        env.step().unwrap();
    }
    let (pid, rows) = env.worker_processes()[1].clone();
    assert_eq!(rows, 4..6);
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(50));
    let (err, took) = failing_step(&mut env);
    assert!(took < Duration::from_secs(1), "{took:?}");
    match &err {
        VecEnvError::Process {
            worker: 2,
            pid: p,
            fault: ProcessFault::Ended { status },
            ..
        } => {
            assert_eq!(*p, pid);
            assert!(status.contains("SIGKILL"), "{status}");
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    for part in ["rows 4..6", "task `python`", "gym:CartPole-v1"] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(matches!(env.step(), Err(VecEnvError::Poisoned { .. })));
    let start = Instant::now();
    drop(env);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_worker_that_does_not_answer_is_killed_after_the_step_timeout() {
    if !gymnasium("a_worker_that_does_not_answer_is_killed_after_the_step_timeout") {
        return;
    }
    let registry = Registry::builtin();
    let sleepy = "gym:polytask_sleepy:polytask-test/Sleepy-v0";
    let tasks = [task(
        "sleepy",
        sleepy,
        1,
        &[("sleep_at", 3.0), ("seconds", 60.0)],
    )];
    let options = Options {
        python_step_timeout: Duration::from_millis(1500),
        ..options(1, 1)
    };
    let mut env = VecEnv::with_options(&tasks, &registry, 0, &options).unwrap();
    let (pid, _) = env.worker_processes()[0];
    env.step().unwrap();
    env.step().unwrap();
    let (err, took) = failing_step(&mut env);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        matches!(&err, VecEnvError::Process { fault: ProcessFault::TimedOut { seconds }, .. } if *seconds == 1.5),
        "{err}"
    );
    let text = err.to_string();
    for part in ["python_step_timeout", "task `sleepy`", sleepy, "rows 0..1"] {
        assert!(text.contains(part), "{part}: {text}");
    }
    // Killed and reaped already.
    assert!(!PathBuf::from(format!("/proc/{pid}")).exists());
}

#[test]
fn a_worker_that_cannot_make_its_environment_names_the_task() {
    if !gymnasium("a_worker_that_cannot_make_its_environment_names_the_task") {
        return;
    }
    let registry = Registry::builtin();
    let tasks = [
        task("fine", "gym:CartPole-v1", 1, &[]),
        task("broken", "gym:NoSuchEnv-v0", 1, &[]),
    ];
    let err = VecEnv::with_options(&tasks, &registry, 0, &options(2, 1)).unwrap_err();
    match &err {
        VecEnvError::Make { task, env, .. } => {
            assert_eq!(
                (task.as_str(), env.as_str()),
                ("broken", "gym:NoSuchEnv-v0")
            )
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("NoSuchEnv"), "{err}");
}

#[test]
fn dropping_the_vector_env_reaps_its_workers() {
    if !gymnasium("dropping_the_vector_env_reaps_its_workers") {
        return;
    }
    let registry = Registry::builtin();
    let tasks = [task("python", "gym:CartPole-v1", 3, &[])];
    let mut env = VecEnv::with_options(&tasks, &registry, 0, &options(3, 1)).unwrap();
    env.step().unwrap();
    let pids: Vec<u32> = env.worker_processes().into_iter().map(|(p, _)| p).collect();
    assert_eq!(pids.len(), 3);
    assert!(pids
        .iter()
        .all(|p| PathBuf::from(format!("/proc/{p}")).exists()));
    let start = Instant::now();
    drop(env);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    for pid in pids {
        // Reaped: no zombie left (a zombie keeps its /proc entry), and not our child any more.
        assert!(!PathBuf::from(format!("/proc/{pid}")).exists(), "{pid}");
        // SAFETY: waitpid with WNOHANG on a pid; no memory is passed but the status.
        let mut status = 0;
        let waited = unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        assert_eq!(waited, -1, "{pid}");
    }
}

#[test]
fn train_runs_end_to_end_with_two_python_workers() {
    if !gymnasium("train_runs_end_to_end_with_two_python_workers") {
        return;
    }
    let dir = common::temp_dir("python-workers-train");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "seed = 3\ntotal_timesteps = 512\npython_workers = 2\n[algorithm]\nnum_steps = 32\n\
         update_epochs = 1\nnum_minibatches = 2\n[logging]\nquiet = true\neval_episodes = 1\n\
         run_dir = \"runs\"\n[[tasks]]\nname = \"python\"\nenv = \"gym:CartPole-v1\"\nnum_envs = 4\n\
         [[tasks]]\nname = \"native\"\nenv = \"CartPole-v1\"\nnum_envs = 2\n",
    )
    .unwrap();
    let run = dir.join("runs/workers");
    let out = common::polytask(
        &dir,
        &["train", config.to_str().unwrap(), "--run-name", "workers"],
        None,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let scalars = polytask::logger::read_scalars(&run).unwrap();
    assert!(
        scalars
            .iter()
            .any(|(tag, _, _)| tag == "charts/python/episodic_return"),
        "{}",
        common::text(&out)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A program that embeds the library (this test binary) is no worker: automatic
/// `python_workers` then steps the `gym:` tasks in its own process, and asking for workers
/// without a worker executable is an error naming `POLYTASK_WORKER_EXE`.
#[test]
fn without_a_worker_executable_gym_tasks_stay_in_process() {
    if !gymnasium("without_a_worker_executable_gym_tasks_stay_in_process") {
        return;
    }
    let registry = Registry::builtin();
    let tasks = [task("python", "gym:CartPole-v1", 2, &[])];
    let automatic = Options {
        python_workers: None,
        worker_exe: None,
        ..Options::default()
    };
    let env = VecEnv::with_options(&tasks, &registry, 0, &automatic).unwrap();
    assert_eq!(env.python_workers(), 0);
    let asked = Options {
        python_workers: Some(2),
        ..automatic
    };
    let err = VecEnv::with_options(&tasks, &registry, 0, &asked).unwrap_err();
    assert!(err.to_string().contains("POLYTASK_WORKER_EXE"), "{err}");
    // The test binary is not named polytask, so it is not its own default worker.
    if std::env::var_os(polytask::vec_env::POLYTASK_WORKER_EXE).is_none() {
        assert_eq!(polytask::vec_env::default_worker_exe(), None);
    }
}
