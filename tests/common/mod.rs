//! Helpers shared by the integration tests. Each test binary compiles this module and uses
//! part of it, hence `dead_code` is allowed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polytask::envs::Space;
use polytask::logger::read_scalars;
use polytask::vec_env::VecEnv;
use rand::Rng;
use rand_pcg::Pcg64;

/// A fresh, empty directory `polytask-<name>-<pid>` under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("polytask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A finished process's standard output and error, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What must be equal between an interrupted-and-resumed run and the uninterrupted one: every
/// scalar but the wall-clock one (`charts/SPS`), sorted, as bits, and the final checkpoint's
/// weights' bytes.
#[derive(Debug, PartialEq)]
pub struct Fingerprint {
    /// `(tag, step, value bits)`.
    pub scalars: Vec<(String, u64, u64)>,
    /// `checkpoint/model.safetensors`.
    pub weights: Vec<u8>,
}

/// The [`Fingerprint`] of the run directory `run`.
pub fn fingerprint(run: &Path) -> Fingerprint {
    let mut scalars: Vec<(String, u64, u64)> = read_scalars(run)
        .unwrap()
        .into_iter()
        .filter(|(tag, _, _)| tag != "charts/SPS")
        .map(|(tag, step, v)| (tag, step, v.to_bits()))
        .collect();
    scalars.sort();
    let weights = std::fs::read(run.join("checkpoint/model.safetensors")).unwrap();
    Fingerprint { scalars, weights }
}

/// Runs the built `polytask` binary with `args` in `dir`, with the fault `failpoint` injected
/// (`POLYTASK_FAILPOINT`, see docs/reliability.md) if given.
pub fn polytask(dir: &Path, args: &[&str], failpoint: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_polytask"));
    command.args(args).current_dir(dir);
    if let Some(point) = failpoint {
        command.env("POLYTASK_FAILPOINT", point);
    }
    command.output().unwrap()
}

/// Writes random actions for every task into `actions` (the vector env's layout).
pub fn random_actions(env: &VecEnv, rng: &mut Pcg64, actions: &mut [f32]) {
    for task in env.tasks() {
        let block = &mut actions[task.actions.clone()];
        for a in block.chunks_exact_mut(task.act_dim) {
            match &task.action_space {
                Space::Discrete(n) => a[0] = rng.random_range(0..*n) as f32,
                Space::Box(b) => {
                    for (x, (lo, hi)) in a.iter_mut().zip(b.low.iter().zip(&b.high)) {
                        *x = rng.random_range(*lo..=*hi);
                    }
                }
            }
        }
    }
}
