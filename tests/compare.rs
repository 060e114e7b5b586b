//! `polytask compare` end to end: a tiny comparison (two methods, two seeds, two tasks) whose
//! report, CSV files and plots must exist and agree with the runs' own logs; resuming skips
//! finished runs and redoes unfinished ones; bad input is a usage error.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polytask::config::{RawConfig, RawKernels};
use polytask::logger::read_scalars;
use polytask::train::RunResult;
use polytask_agents::kernels::KernelChoice;

const CONFIG: &str = r#"
seed = 3
total_timesteps = 2048
[algorithm]
num_steps = 32
update_epochs = 2
[logging]
eval_episodes = 2
[[tasks]]
name = "standard"
env = "CartPole-v1"
num_envs = 4
[[tasks]]
name = "light"
env = "CartPole-v1"
num_envs = 4
params = { masspole = 0.05 }
threshold = 30.0
[compare]
methods = ["single-task", "pcgrad"]
seeds = 2
"#;

fn polytask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args(args)
        .output()
        .expect("the polytask binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    common::temp_dir(&format!("compare-{name}"))
}

fn compare(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "compare",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
    ];
    args.extend(extra);
    polytask(&args)
}

/// `(method, seed, task)` → the `(step, return)` rows of `results.csv`.
type Rows = BTreeMap<(String, u64, String), Vec<(u64, f64)>>;

fn csv_rows(path: &Path) -> Rows {
    let csv = fs::read_to_string(path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("method,seed,task,step,return"));
    let mut rows = Rows::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let key = (f[0].to_string(), f[1].parse().unwrap(), f[2].to_string());
        let point = (f[3].parse().unwrap(), f[4].parse().unwrap());
        rows.entry(key).or_default().push(point);
    }
    rows
}

fn run_dir(out: &Path, method: &str, seed: u64, task: &str) -> PathBuf {
    let dir = out.join("runs").join(method).join(format!("seed{seed}"));
    if method == "single-task" {
        dir.join(task)
    } else {
        dir
    }
}

fn is_png(path: &Path) -> bool {
    fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG"))
}

#[test]
fn a_tiny_comparison_reports_what_its_runs_logged_and_resumes() {
    let dir = scratch("tiny");
    let config = dir.join("tiny.toml");
    fs::write(&config, CONFIG).unwrap();
    let out = dir.join("out");
    let first = compare(&config, &out, &["--quiet"]);
    assert!(first.status.success(), "{}", text(&first.stderr));

    for file in [
        "learning_curves.png",
        "gradient_conflict.png",
        "conflict_frequency.png",
    ] {
        assert!(is_png(&out.join(file)), "{file} is not a PNG");
    }
    let rows = csv_rows(&out.join("results.csv"));
    assert_eq!(rows.len(), 2 * 2 * 2, "method × seed × task");
    // `kernels = "auto"`: one choice, recorded in the comparison's folder, for every job.
    let recorded: KernelChoice =
        toml::from_str(&fs::read_to_string(out.join("kernels.toml")).unwrap()).unwrap();
    for (method, seed, task) in rows.keys() {
        let config = run_dir(&out, method, *seed, task).join("config.toml");
        let raw: RawConfig = toml::from_str(&fs::read_to_string(config).unwrap()).unwrap();
        assert_eq!(
            raw.kernels,
            RawKernels::Each(recorded),
            "{method} {seed} {task}"
        );
    }
    for ((method, seed, task), points) in &rows {
        let logged: Vec<(u64, f64)> = read_scalars(&run_dir(&out, method, *seed, task))
            .unwrap()
            .into_iter()
            .filter(|(tag, _, _)| *tag == format!("charts/{task}/episodic_return"))
            .map(|(_, step, value)| (step, value))
            .collect();
        assert!(!logged.is_empty());
        assert_eq!(points, &logged, "{method} seed {seed} {task}");
    }

    let report = fs::read_to_string(out.join("report.md")).unwrap();
    // Both tasks are CartPoles: positive single-task returns, so the score is defined.
    assert!(report.contains("## Normalised score"), "{report}");
    assert!(report.contains("| `single-task` | 1.00") && report.contains("| `pcgrad` | "));
    let final_csv = fs::read_to_string(out.join("final.csv")).unwrap();
    for (method, seed, task) in rows.keys() {
        let result = RunResult::read(&run_dir(&out, method, *seed, task))
            .unwrap()
            .unwrap();
        let eval = result.tasks.iter().find(|t| &t.task == task).unwrap();
        let prefix = format!("{method},{seed},{task},{},", eval.eval_mean());
        assert!(final_csv.contains(&prefix), "{prefix} not in {final_csv}");
        // The report's table shows the mean over both seeds of these numbers.
        assert!(report.contains(&format!("| {task} |")), "{report}");
    }
    let means: Vec<f64> = [3, 4]
        .iter()
        .map(|&s| {
            let r = RunResult::read(&run_dir(&out, "pcgrad", s, ""))
                .unwrap()
                .unwrap();
            r.tasks[0].eval_mean()
        })
        .collect();
    let (mean, half) = polytask::compare::mean_ci95(&means);
    let cell = format!("{mean:.1} ± {half:.1}");
    assert!(report.contains(&cell), "`{cell}` not in {report}");
    assert!(report.contains("| standard | baseline |"), "{report}");
    assert!(
        report.contains("Thresholds: standard 475, light 30."),
        "{report}"
    );
    // The conflict table counts every logged cosine of both seeds' pcgrad runs.
    let cosines: Vec<f64> = [3, 4]
        .iter()
        .flat_map(|&s| read_scalars(&run_dir(&out, "pcgrad", s, "")).unwrap())
        .filter(|(tag, _, _)| tag == "surgery/cos_sim/standard__light")
        .map(|(_, _, v)| v)
        .collect();
    assert!(!cosines.is_empty());
    let negative = cosines.iter().filter(|&&c| c < 0.0).count() as f64;
    let row = format!(
        "| pcgrad | standard / light | {} | {:.0}% |",
        cosines.len(),
        100.0 * negative / cosines.len() as f64
    );
    assert!(report.contains(&row), "`{row}` not in {report}");
    let verdicts = [
        "**Conflicts worth resolving**: ",
        "**Occasional conflicts**: ",
        "**No conflicts worth resolving**: ",
    ];
    assert!(verdicts.iter().any(|v| report.contains(v)), "{report}");

    // Running again into the same folder needs --resume: nothing is overwritten.
    let again = compare(&config, &out, &["--quiet"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("--resume"));

    // An unfinished run (no result.json) is redone from its checkpoint; the others are kept.
    let unfinished = run_dir(&out, "pcgrad", 4, "");
    fs::remove_file(unfinished.join("result.json")).unwrap();
    let kept = fs::metadata(run_dir(&out, "pcgrad", 3, "").join("result.json"))
        .unwrap()
        .modified()
        .unwrap();
    let resumed = compare(&config, &out, &["--resume"]);
    let stdout = text(&resumed.stdout);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(stdout.contains("5 of 6 runs already finished"), "{stdout}");
    assert!(stdout.contains("finished pcgrad seed 4"), "{stdout}");
    assert!(unfinished.join("result.json").exists());
    let still = fs::metadata(run_dir(&out, "pcgrad", 3, "").join("result.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(kept, still);
    fs::remove_dir_all(dir).unwrap();
}

/// Three tasks with `logging.pairwise_limit = 2`: more rows than the limit, so the runs log
/// summaries of the pair cosines, as a 50-task run does at the default limit of 10.
const SUMMARISED: &str = r#"
seed = 5
total_timesteps = 1024
[algorithm]
num_steps = 32
update_epochs = 2
[logging]
eval_episodes = 1
pairwise_limit = 2
[[tasks]]
name = "standard"
env = "CartPole-v1"
num_envs = 4
[[tasks]]
name = "light"
env = "CartPole-v1"
num_envs = 4
params = { masspole = 0.05 }
[[tasks]]
name = "short"
env = "CartPole-v1"
num_envs = 4
params = { length = 0.25 }
[compare]
methods = ["sum", "pcgrad"]
seeds = 1
"#;

#[test]
fn runs_above_the_pairwise_limit_log_summaries_and_the_report_shows_them() {
    let dir = scratch("summarised");
    let config = dir.join("summarised.toml");
    fs::write(&config, SUMMARISED).unwrap();
    let out = dir.join("out");
    let run = compare(&config, &out, &["--quiet"]);
    assert!(run.status.success(), "{}", text(&run.stderr));

    let events = polytask::logger::read_events(&run_dir(&out, "pcgrad", 5, "")).unwrap();
    let tags: Vec<&str> = events.scalars.iter().map(|(t, _, _)| t.as_str()).collect();
    assert!(!tags.is_empty());
    assert!(
        tags.iter().all(|t| !t.starts_with("surgery/cos_sim/")),
        "a per-pair tag was written"
    );
    let updates = tags.iter().filter(|t| **t == "surgery/conflicts").count();
    assert!(updates > 0);
    for summary in [
        "surgery/cos_sim_quantile/median",
        "surgery/conflict_share",
        "surgery/cos_sim_lowest/1",
        "surgery/grad_norm/short",
    ] {
        let n = tags.iter().filter(|t| **t == summary).count();
        assert_eq!(n, updates, "{summary}");
    }
    let histograms: Vec<_> = (events.histograms.iter())
        .filter(|(tag, _, _)| tag == "surgery/cos_sim")
        .collect();
    assert_eq!(histograms.len(), updates);
    assert!(histograms.iter().all(|(_, _, h)| h.num == 3.0));
    let named: Vec<_> = (events.texts.iter())
        .filter(|(tag, _, _)| tag == "surgery/cos_sim_lowest_pairs")
        .collect();
    assert_eq!(named.len(), updates);
    assert!(named[0].2.contains("`standard__light`"), "{}", named[0].2);

    let report = fs::read_to_string(out.join("report.md")).unwrap();
    for method in ["sum", "pcgrad"] {
        let pooled = format!("| {method} | all 3 pairs, summarised | {} |", 3 * updates);
        assert!(report.contains(&pooled), "`{pooled}` not in {report}");
    }
    assert!(report.contains("Most conflicting pairs"), "{report}");
    assert!(
        report.contains("| pcgrad | standard / light | "),
        "{report}"
    );
    for file in ["gradient_conflict.png", "conflict_frequency.png"] {
        assert!(is_png(&out.join(file)), "{file} is not a PNG");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_methods_are_usage_errors_that_name_them() {
    let dir = scratch("bad");
    let config = dir.join("bad.toml");
    let out = dir.join("out");
    let cases = [
        ("methods = [\"single-task\", \"pcgard\"]", "pcgard"),
        ("methods = []", "compare.methods"),
        ("methods = [\"sum\"]\nbaseline = \"mgda\"", "baseline"),
        ("methods = [\"sum\", \"sum\"]", "twice"),
        ("methods = [\"sum\"]\nseedz = 2", "seedz"),
    ];
    for (section, needle) in cases {
        let body = CONFIG.split("[compare]").next().unwrap();
        fs::write(&config, format!("{body}[compare]\n{section}\n")).unwrap();
        let bad = compare(&config, &out, &[]);
        let err = text(&bad.stderr);
        assert_eq!(bad.status.code(), Some(2), "{section}: {err}");
        assert!(err.contains(needle), "{section}: `{needle}` not in {err}");
        assert!(
            !out.join("runs").exists(),
            "nothing runs before the plan is valid"
        );
    }
    fs::write(&config, CONFIG).unwrap();
    let out_arg = out.to_str().unwrap();
    let zero = polytask(&[
        "compare",
        config.to_str().unwrap(),
        "--out",
        out_arg,
        "--jobs",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(text(&zero.stderr).contains("--jobs must be at least 1"));
    let body = CONFIG.split("[compare]").next().unwrap();
    fs::write(&config, body).unwrap();
    let none = compare(&config, &out, &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("[compare]"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_killed_comparison_keeps_its_finished_runs_and_resumes_the_rest() {
    let dir = scratch("killed");
    let config = dir.join("killed.toml");
    let body = CONFIG.split("[compare]").next().unwrap();
    let longer = body.replace("total_timesteps = 2048", "total_timesteps = 16384");
    fs::write(
        &config,
        format!("{longer}[compare]\nmethods = [\"sum\", \"pcgrad\"]\nseeds = 2\n"),
    )
    .unwrap();
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args([
            "compare",
            config.to_str().unwrap(),
            "--jobs",
            "1",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .spawn()
        .unwrap();
    let results = || -> Vec<PathBuf> {
        [("sum", 3), ("sum", 4), ("pcgrad", 3), ("pcgrad", 4)]
            .iter()
            .map(|&(m, s)| run_dir(&out, m, s, "").join("result.json"))
            .filter(|p| p.exists())
            .collect()
    };
    let start = std::time::Instant::now();
    while results().is_empty() {
        assert!(start.elapsed().as_secs() < 300, "no run finished");
        assert!(child.try_wait().unwrap().is_none(), "compare ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = results();
    assert!(finished.len() < 4, "killed before the end");
    let stamps: Vec<_> = finished
        .iter()
        .map(|p| fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    // The run that was going on ends with the comparison: nothing finishes behind our back.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(results(), finished);

    let resumed = compare(&config, &out, &["--resume", "--quiet"]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert_eq!(results().len(), 4);
    for (p, t) in finished.iter().zip(&stamps) {
        assert_eq!(
            &fs::metadata(p).unwrap().modified().unwrap(),
            t,
            "{}",
            p.display()
        );
    }
    // Every run's curve reaches its budget once, without repeated steps.
    for (key, points) in csv_rows(&out.join("results.csv")) {
        let steps: Vec<u64> = points.iter().map(|p| p.0).collect();
        assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{key:?}");
        assert!(*steps.last().unwrap() > 16384 - 2048, "{key:?}");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_comparison_without_evaluation_reports_dashes_instead_of_panicking() {
    let dir = scratch("no-eval");
    let config = dir.join("c.toml");
    let text_config = CONFIG
        .replace("eval_episodes = 2", "eval_episodes = 0")
        .replace("total_timesteps = 2048", "total_timesteps = 256");
    fs::write(&config, text_config).unwrap();
    let out = compare(&config, &dir.join("out"), &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = fs::read_to_string(dir.join("out/report.md")).unwrap();
    assert!(report.contains("—"), "{report}");
    assert!(!text(&out.stderr).contains("panicked"));
}

#[test]
fn single_task_baselines_get_as_many_steps_as_the_task_gets_in_the_multi_task_runs() {
    let dir = scratch("budget");
    let config = dir.join("c.toml");
    // 8 and 2 environments: 512 steps of the smaller task take 512 / (32 × 2) = 8
    // iterations, in which the larger one takes 8 × 32 × 8 = 2048.
    let text_config = CONFIG
        .replace("total_timesteps = 2048", "total_timesteps = 512")
        .replacen("num_envs = 4", "num_envs = 8", 1)
        .replacen("num_envs = 4", "num_envs = 2", 1)
        .replace("seeds = 2", "seeds = 1");
    fs::write(&config, text_config).unwrap();
    let out = compare(&config, &dir.join("out"), &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let steps = |run: &str| -> Vec<u64> {
        let result = RunResult::read(&dir.join("out/runs").join(run))
            .unwrap()
            .unwrap();
        result.tasks.iter().map(|t| t.steps).collect()
    };
    assert_eq!(steps("pcgrad/seed3"), vec![2048, 512]);
    assert_eq!(steps("single-task/seed3/standard"), vec![2048]);
    assert_eq!(steps("single-task/seed3/light"), vec![512]);
}

#[test]
fn ctrl_c_stops_a_comparison_after_its_runs_saved_checkpoints() {
    let dir = scratch("sigint");
    let config = dir.join("c.toml");
    let long = CONFIG
        .replace("total_timesteps = 2048", "total_timesteps = 1000000")
        .replace("seeds = 2", "seeds = 1")
        .replace(
            "eval_episodes = 2",
            "eval_episodes = 2\ncheckpoint_interval = 1",
        );
    fs::write(&config, long).unwrap();
    let out = dir.join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_polytask"))
        .args([
            "compare",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--jobs", "2", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs = ["single-task/seed3/standard", "single-task/seed3/light"];
    let saved = |run: &str| {
        out.join("runs")
            .join(run)
            .join("checkpoint/state.json")
            .exists()
    };
    let start = std::time::Instant::now();
    while !runs.iter().all(|r| saved(r)) && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let stopped = child.wait_with_output().unwrap();
    let said = text(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(130), "{said}");
    assert!(said.contains("--resume"), "{said}");
    for run in runs {
        let dir = out.join("runs").join(run);
        assert!(saved(run), "{run} has its checkpoint");
        assert!(!dir.join("result.json").exists(), "{run} did not finish");
        let log = fs::read_to_string(dir.join("train.log")).unwrap();
        assert!(log.contains("stopped by SIGINT"), "{run}: {log}");
    }
}
