//! `polytask bench envs` runs and reports every mode with its ratio to the baseline;
//! `polytask bench kernels` times every learner kernel both ways; `bench learner` and
//! `bench train` print their splits and limits.

use std::process::{Command, Output};

/// `polytask bench ARGS`, with its standard output as text.
fn bench(args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// Fails with the standard error when the command failed.
fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bench_envs_reports_the_baseline_and_the_vector_env() {
    let (out, text) = bench(&[
        "envs",
        "--env",
        "Pendulum-v1",
        "--num-envs",
        "8",
        "--threads",
        "2",
        "--steps",
        "2000",
        "--repeat",
        "3",
    ]);
    assert_success(&out);
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

    let (out, _) = bench(&["envs", "--env", "Nope-v0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nope-v0"));
}

#[test]
fn bench_kernels_times_every_kernel_both_ways_and_names_the_cpu() {
    let (out, text) = bench(&["kernels", "--rows", "16", "--layer", "4,8", "--rounds", "3"]);
    assert_success(&out);
    assert!(
        text.contains("layer 4→8") && text.contains("1 thread, "),
        "{text}"
    );
    let kernels = [
        "tanh",
        "tanh_backward",
        "linear",
        "weight_grad",
        "input_grad",
    ];
    for kernel in kernels {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kernel))
            .unwrap_or_else(|| panic!("no {kernel} in {text}"));
        assert!(
            line.ends_with("host") || line.ends_with("libtorch"),
            "{line}"
        );
    }
    let (out, _) = bench(&["kernels", "--layer", "64"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--layer"));
}

#[test]
fn bench_learner_times_the_minatar_network_under_surgery() {
    let (out, text) = bench(&[
        "learner",
        "--network",
        "minatar",
        "--conv",
        "adapter",
        "--tasks",
        "2",
        "--rows",
        "8",
        "--steps",
        "2",
        "--repeat",
        "1",
        "--aggregators",
        "pcgrad",
        "--kernels",
        "libtorch",
    ]);
    assert_success(&out);
    assert!(
        text.contains("MinAtar network, adapter convolutions"),
        "{text}"
    );
    for method in ["sum", "pcgrad"] {
        let line = (text.lines())
            .find(|l| l.split_whitespace().nth(1) == Some(method))
            .unwrap_or_else(|| panic!("no `{method}` row: {text}"));
        assert!(
            line.trim_start().starts_with('2') && line.ends_with('×'),
            "{line}"
        );
    }
}

#[test]
fn bench_train_times_minatar_breakout_with_its_split_and_the_machines_limit() {
    let (out, text) = bench(&[
        "train",
        "--config",
        "minatar-breakout",
        "--steps",
        "8192",
        "--kernels",
        "libtorch",
    ]);
    assert_success(&out);
    assert!(text.starts_with("PPO, MinAtar/Breakout-v1"), "{text}");
    let polytask = (text.lines())
        .find(|l| l.trim_start().starts_with("polytask"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        polytask.contains("collecting") && polytask.contains("learning"),
        "{polytask}"
    );
    assert!(text.contains("machine limit"), "{text}");
}

/// SAC's bench prints one update's stages and the limit from SAC's products: at Pendulum's
/// shapes (3 observations, 1 action, 256 × 256, 256 rows) the rollout's actor pass (66,816
/// multiply-adds) and the update's 272,957,440 (sixteen passes of 256 rows through 66,816-
/// or 65,792-multiply-add layer stacks, see `bench::limit::sac_products`).
#[test]
fn bench_train_times_sac_with_its_update_split_and_the_limit_of_its_products() {
    let (out, text) = bench(&["train", "--algo", "sac", "--steps", "200"]);
    assert_success(&out);
    assert!(text.starts_with("SAC, Pendulum-v1"), "{text}");
    let update = (text.lines())
        .find(|l| l.contains("one SAC update:"))
        .unwrap_or_else(|| panic!("{text}"));
    for stage in ["sample+alpha", "targets", "critic", "actor", "polyak"] {
        assert!(update.contains(stage), "{stage}: {update}");
    }
    assert!(text.contains("273.02M multiply-adds per step"), "{text}");
}
