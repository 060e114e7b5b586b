//! `polytask bench envs` runs and reports every mode with its ratio to the baseline.

use std::process::Command;

#[test]
fn bench_envs_reports_the_baseline_and_the_vector_env() {
    let out = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(["bench", "envs", "--env", "Pendulum-v1", "--num-envs", "8"])
        .args(["--threads", "2", "--steps", "2000", "--repeat", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("Pendulum-v1: 8 envs, 2 threads"), "{text}");
    for mode in [
        "plain loop, 1 thread (baseline)",
        "vec env sync, 1 thread",
        "vec env sync, 2 threads",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(mode))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("steps/s") && line.contains('x'), "{line}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(["bench", "envs", "--env", "Nope-v0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nope-v0"));
}
