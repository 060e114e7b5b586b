//! Reliability of training runs: a run stopped at any point — Ctrl-C or SIGTERM, `kill -9`,
//! a crash at each step of a checkpoint save, a full disk — loses nothing and, resumed,
//! ends bit for bit as the uninterrupted run (TensorBoard scalars but `charts/SPS`, and the
//! final weights); a diverging run stops before a bad update; one run per run directory.
//!
//! The crash points are chosen with the failpoints of `polytask::durable`
//! (`POLYTASK_FAILPOINT`), so each test is deterministic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{fingerprint, polytask, temp_dir, text, Fingerprint};
use polytask::logger::read_scalars;

/// Two tasks of different sizes, normalisation, and GradVac (an aggregator with state).
const CONFIG: &str = r#"
seed = 11
total_timesteps = 256
[algorithm]
num_steps = 16
update_epochs = 2
num_minibatches = 2
[surgery]
aggregator = "gradvac"
[logging]
checkpoint_interval = 1
eval_episodes = 2
quiet = true
[[tasks]]
name = "cart"
env = "CartPole-v1"
num_envs = 4
normalize_obs = true
normalize_reward = true
[[tasks]]
name = "acro"
env = "Acrobot-v1"
num_envs = 2
params = { max_episode_steps = 40 }
"#;

/// Iterations of [`CONFIG`]: 256 / (16 × 2).
const ITERATIONS: u64 = 8;

fn train(dir: &Path, name: &str, resume: bool, failpoint: Option<&str>) -> Output {
    train_with(dir, name, resume, failpoint, &[])
}

fn train_with(
    dir: &Path,
    name: &str,
    resume: bool,
    failpoint: Option<&str>,
    extra: &[&str],
) -> Output {
    let mut args = vec!["train", "c.toml", "--run-name", name];
    if resume {
        args.push("--resume");
    }
    args.extend(extra);
    polytask(dir, &args, failpoint)
}

/// The uninterrupted run, made once for all tests.
fn reference() -> &'static Fingerprint {
    static REFERENCE: OnceLock<Fingerprint> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = setup("reference");
        let out = train(&dir, "r", false, None);
        assert!(out.status.success(), "{}", text(&out));
        let print = fingerprint(&dir.join("runs/r"));
        assert!(
            print
                .scalars
                .iter()
                .any(|(t, ..)| t == "charts/cart/episodic_return"),
            "the reference logs returns"
        );
        print
    })
}

fn setup(name: &str) -> PathBuf {
    let dir = temp_dir(&format!("reliability-{name}"));
    std::fs::write(dir.join("c.toml"), CONFIG).unwrap();
    dir
}

/// Runs with `failpoint` armed, checks the run stopped with `code` (`None`: killed), resumes
/// it and checks it matches the uninterrupted run.
fn stop_then_resume(name: &str, failpoint: &str, code: Option<i32>) -> String {
    let dir = setup(name);
    let out = train(&dir, "r", false, Some(failpoint));
    assert_eq!(out.status.code(), code, "{failpoint}: {}", text(&out));
    let stopped = text(&out);
    let resumed = train(&dir, "r", true, None);
    assert!(resumed.status.success(), "{failpoint}: {}", text(&resumed));
    assert_eq!(
        &fingerprint(&dir.join("runs/r")),
        reference(),
        "resumed after {failpoint}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    stopped
}

#[test]
fn a_run_killed_at_any_iteration_resumes_bit_identically() {
    for at in [1, 3, 6, ITERATIONS] {
        stop_then_resume(&format!("kill{at}"), &format!("train:iteration@{at}"), None);
    }
}

#[test]
fn environments_stepped_by_worker_threads_resume_bit_identically_too() {
    let dir = setup("threads");
    let two = ["--set", "threads=2"];
    let out = train_with(&dir, "r", false, Some("train:iteration@4"), &two);
    assert_eq!(out.status.code(), None, "{}", text(&out));
    let resumed = train_with(&dir, "r", true, None, &two);
    assert!(resumed.status.success(), "{}", text(&resumed));
    // The vector env's results do not depend on its threads: the reference ran on one.
    assert_eq!(&fingerprint(&dir.join("runs/r")), reference());
}

#[test]
fn a_resumed_run_keeps_the_kernel_choice_its_checkpoint_recorded() {
    let dir = setup("kernels");
    let out = train(&dir, "r", false, None);
    assert!(out.status.success(), "{}", text(&out));
    let state_path = dir.join("runs/r/checkpoint/state.json");
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap()
    };
    let mut state = read();
    let kernels = state["kernels"]
        .as_object_mut()
        .expect("the choice is recorded");
    assert_eq!(kernels.len(), 5);
    // Every kernel the other way from what `auto` chose on this machine.
    for backend in kernels.values_mut() {
        let other = if backend == "host" {
            "libtorch"
        } else {
            "host"
        };
        *backend = other.into();
    }
    let flipped = state["kernels"].clone();
    std::fs::write(&state_path, serde_json::to_string(&state).unwrap()).unwrap();
    let extended = train_with(&dir, "r", true, None, &["--set", "total_timesteps=320"]);
    assert!(extended.status.success(), "{}", text(&extended));
    assert!(read()["iteration"].as_u64().unwrap() > ITERATIONS);
    assert_eq!(
        read()["kernels"],
        flipped,
        "the resumed run kept the recorded choice"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_crash_at_each_step_of_a_checkpoint_save_loses_nothing() {
    // The second save of the run: there is a previous checkpoint to lose.
    for point in [
        "checkpoint:model-written",
        "checkpoint:staged",
        "checkpoint:old-moved",
        "checkpoint:swapped",
    ] {
        let name = point.replace(':', "-");
        stop_then_resume(&name, &format!("{point}@2"), None);
    }
}

#[test]
fn ctrl_c_and_sigterm_save_say_how_to_resume_and_exit_130_and_143() {
    for (signal, code) in [("sigint", 130), ("sigterm", 143)] {
        let said = stop_then_resume(signal, &format!("train:iteration@3:{signal}"), Some(code));
        assert!(
            said.contains("after update 3")
                && said.contains("continue it with: polytask train c.toml --run-name r --resume"),
            "{said}"
        );
        assert_eq!(said.lines().count(), 1, "one line: {said}");
    }
}

#[test]
fn a_full_disk_during_a_save_keeps_the_previous_checkpoint_and_names_the_file() {
    let dir = setup("enospc");
    let out = train(&dir, "r", false, Some("write:state.json@3:enospc"));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("state.json") && said.contains("No space left"),
        "{said}"
    );
    let state = std::fs::read_to_string(dir.join("runs/r/checkpoint/state.json")).unwrap();
    assert!(state.contains("\"iteration\": 2"), "{state}");
    let resumed = train(&dir, "r", true, None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert_eq!(&fingerprint(&dir.join("runs/r")), reference());
}

/// Starts run `r` of [`CONFIG`] with a budget that outlasts the test, its output captured.
fn start_long_run(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(["train", "c.toml", "--run-name", "r"])
        .args(["--set", "total_timesteps=100000"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `ready` every 20 ms for at most a minute.
fn wait_until(ready: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !ready() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_real_signal_from_outside_stops_the_run_with_a_checkpoint() {
    let dir = setup("signal");
    let child = start_long_run(&dir);
    // Wait for the first checkpoint, then Ctrl-C.
    let checkpoint = dir.join("runs/r/checkpoint/state.json");
    wait_until(|| checkpoint.exists());
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(text(&out).contains("--resume"), "{}", text(&out));
}

#[test]
fn a_second_run_in_the_same_directory_is_refused_naming_the_holder() {
    let dir = setup("lock");
    let mut first = start_long_run(&dir);
    let lock = dir.join("runs/r/lock");
    wait_until(|| std::fs::read_to_string(&lock).is_ok_and(|s| !s.is_empty()));
    let second = train(&dir, "r", true, None);
    let _ = first.kill();
    let _ = first.wait();
    let said = text(&second);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("pid {}", first.id())), "{said}");
    // The holder was killed: its lock is taken over and the run resumes.
    let resumed = train(&dir, "r", true, None);
    assert!(resumed.status.success(), "{}", text(&resumed));
}

#[test]
fn a_diverging_run_stops_before_the_bad_update_or_skips_it() {
    let dir = setup("diverge");
    let pendulum = "total_timesteps = 2048\nseed = 1\n[algorithm]\nlearning_rate = 1e6\n\
                    update_epochs = 4\n[logging]\ncheckpoint_interval = 1\nquiet = true\n\
                    [[tasks]]\nenv = \"Pendulum-v1\"\nnum_envs = 4\n";
    std::fs::write(dir.join("p.toml"), pendulum).unwrap();
    let out = polytask(&dir, &["train", "p.toml", "--run-name", "stop"], None);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("training diverged in update"), "{said}");
    assert!(
        said.contains("Pendulum-v1") || said.contains("shared weights"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    // The checkpoint on disk holds finite weights (a NaN one is never written).
    let weights = dir.join("runs/stop/checkpoint/model.safetensors");
    if weights.exists() {
        let tensors = tch::Tensor::read_safetensors(&weights).unwrap();
        assert!(!tensors.is_empty());
        for (name, t) in tensors {
            assert!(
                t.isfinite().all().int64_value(&[]) == 1,
                "{name} is not finite"
            );
        }
    }
    let out = polytask(
        &dir,
        &[
            "train",
            "p.toml",
            "--run-name",
            "skip",
            "--set",
            "algorithm.on_nonfinite=\"skip\"",
        ],
        None,
    );
    let said = text(&out);
    if out.status.success() {
        let skipped: Vec<f64> = read_scalars(&dir.join("runs/skip"))
            .unwrap()
            .into_iter()
            .filter(|(t, ..)| t == "charts/skipped_updates")
            .map(|(.., v)| v)
            .collect();
        assert!(!skipped.is_empty(), "skipped updates are logged");
    } else {
        // Skipping bad updates cannot save a policy whose sampled actions are already
        // infinite; that is still a clean stop naming the task.
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains("non-finite action"), "{said}");
    }
}

#[test]
fn an_absurd_number_of_environments_is_a_usage_error_at_once() {
    let dir = setup("num-envs");
    let huge = CONFIG.replacen("num_envs = 4", "num_envs = 100000000", 1);
    std::fs::write(dir.join("huge.toml"), huge).unwrap();
    let start = std::time::Instant::now();
    let out = polytask(&dir, &["train", "huge.toml"], None);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("`tasks[0].num_envs` = 100000000"), "{said}");
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
    // Sizes that overflow or cannot be allocated are refused by name, not by a crash.
    for (edit, key) in [
        ("num_steps = 16", "num_steps = 9223372036854775807"),
        ("num_steps = 16", "num_steps = 65536"),
        (
            "[surgery]",
            "[network]\nhidden = [1000000000000]\n[surgery]",
        ),
    ]
    .map(|(from, to)| (CONFIG.replace(from, to), to))
    {
        std::fs::write(
            dir.join("huge.toml"),
            edit.replace("num_envs = 4", "num_envs = 65536"),
        )
        .unwrap();
        let out = polytask(&dir, &["train", "huge.toml"], None);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{key}: {said}");
        assert!(!said.contains("panicked"), "{key}: {said}");
    }
}

#[test]
fn training_again_into_a_run_directory_that_holds_a_run_is_refused() {
    let dir = setup("no-overwrite");
    let first = train(&dir, "r", false, Some("train:iteration@2"));
    assert_eq!(first.status.code(), None, "{}", text(&first));
    let again = train(&dir, "r", false, None);
    let said = text(&again);
    assert_eq!(again.status.code(), Some(2), "{said}");
    assert!(said.contains("--resume"), "{said}");
}
