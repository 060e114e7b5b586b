//! Runs a comparison's jobs as child processes of this program (`polytask train`), `jobs`
//! at a time. Each run checkpoints as it goes and writes `result.json` last, so a run with
//! that file is finished; with `resume`, finished runs are skipped and unfinished ones go on
//! from their checkpoints (`train --resume`).

use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::plan::Job;
use crate::train::RESULT_FILE;

/// The log file of a job's child process, inside its run directory.
pub const TRAIN_LOG: &str = "train.log";

/// Runs every unfinished job of `jobs`, at most `parallel` at once, printing one line per
/// start and end unless `quiet`. Returns the labels of the jobs that failed. A job whose
/// config leaves `learner_threads` (or `python_workers`) automatic gets the cores divided among the `parallel`
/// runs, so that runs of networks with convolutions do not each claim every core.
pub fn run_jobs(jobs: &[Job], parallel: usize, quiet: bool) -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe().context("cannot find this program's executable")?;
    let pending: Vec<&Job> = jobs.iter().filter(|j| !finished(j)).collect();
    let skipped = jobs.len() - pending.len();
    if skipped > 0 && !quiet {
        println!(
            "{skipped} of {} runs already finished; skipping them",
            jobs.len()
        );
    }
    let total = pending.len();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = (cores / parallel.max(1)).max(1);
    let mut queue = pending.into_iter();
    let mut running: Vec<(Child, &Job, Instant)> = Vec::new();
    let mut failed = Vec::new();
    let mut done = 0;
    let mut stopping = None;
    loop {
        while running.len() < parallel.max(1) && stopping.is_none() {
            let Some(job) = queue.next() else { break };
            running.push((start(&exe, job, threads)?, job, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        if let (None, Some(signal)) = (stopping, crate::interrupt::requested()) {
            // Each run saves a checkpoint and ends; the comparison ends after them.
            for (child, ..) in &running {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(child.id() as i32, signal) };
            }
            stopping = Some(signal);
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut k = 0;
        while k < running.len() {
            let Some(status) = running[k].0.try_wait().context("cannot wait for a run")? else {
                k += 1;
                continue;
            };
            let (_, job, started) = running.swap_remove(k);
            done += 1;
            let secs = started.elapsed().as_secs_f64();
            if stopping.is_some() && !finished(job) {
                continue;
            }
            if status.success() && finished(job) {
                if !quiet {
                    println!("[{done}/{total}] finished {} in {secs:.0} s", job.label());
                }
            } else {
                let log = job.run_dir.join(TRAIN_LOG);
                eprintln!(
                    "[{done}/{total}] FAILED {} ({status}); see {}",
                    job.label(),
                    log.display()
                );
                failed.push(job.label());
            }
        }
    }
    if let Some(signal) = stopping {
        return Err(anyhow::Error::new(crate::error::Interrupted {
            signal,
            message: format!(
                "stopped by {}: the unfinished runs saved checkpoints; continue the \
                 comparison with the same command and --resume",
                crate::interrupt::name(signal)
            ),
        }));
    }
    Ok(failed)
}

/// Whether `job`'s run has written its results.
pub fn finished(job: &Job) -> bool {
    job.run_dir.join(RESULT_FILE).exists()
}

/// Starts `exe train <job config> --resume` with the job's run directory, its output going
/// to the run's `train.log`, and `learner_threads` set to `threads` unless the job's config
/// sets it.
fn start(exe: &Path, job: &Job, threads: usize) -> anyhow::Result<Child> {
    let write = |path: &Path, text: &str| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(&job.config_path, &job.config_text)?;
    fs::create_dir_all(&job.run_dir)
        .with_context(|| format!("cannot create {}", job.run_dir.display()))?;
    let log_path = job.run_dir.join(TRAIN_LOG);
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let parent = job.run_dir.parent().expect("run directories are nested");
    let name = job.run_dir.file_name().expect("run directories have names");
    let mut command = Command::new(exe);
    end_with_parent(&mut command);
    // A group of its own: a Ctrl-C at the terminal reaches the comparison alone, which
    // forwards it once (a run that got it twice would stop without saving).
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .arg("train")
        .arg(&job.config_path)
        .arg("--quiet")
        .arg("--resume")
        .arg("--run-name")
        .arg(name)
        .arg("--set")
        .arg(format!("logging.run_dir={}", toml_string(parent)))
        .args(threads_override(&job.config_text, threads))
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))
}

/// `--set learner_threads=N` when `config_text` leaves the key automatic (absent or 0), and
/// `--set python_workers=N` when it has `gym:` tasks and leaves that key automatic (absent),
/// so that parallel runs share the cores instead of each taking all of them.
fn threads_override(config_text: &str, threads: usize) -> Vec<String> {
    let table: toml::Table = config_text.parse().unwrap_or_default();
    let mut args = Vec::new();
    let learner = table
        .get("learner_threads")
        .and_then(toml::Value::as_integer);
    if !matches!(learner, Some(n) if n > 0) {
        args.extend(["--set".into(), format!("learner_threads={threads}")]);
    }
    let gym = (table.get("tasks").and_then(toml::Value::as_array)).is_some_and(|tasks| {
        tasks
            .iter()
            .any(|t| t["env"].as_str().is_some_and(|e| e.starts_with("gym:")))
    });
    if gym && !table.contains_key("python_workers") {
        args.extend(["--set".into(), format!("python_workers={threads}")]);
    }
    args
}

/// `path` as a TOML string literal.
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.to_string_lossy().into_owned()).to_string()
}

/// Makes the child end when this process does (Linux: `PR_SET_PDEATHSIG`), so that a killed
/// comparison leaves no run going on behind `--resume`'s back.
#[cfg(target_os = "linux")]
fn end_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec (prctl, getppid).
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would signal us. (An OS
            // error code, since allocating after fork is not safe.)
            if libc::getppid() == 1 {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere children outlive a killed comparison (an interrupt from the terminal still
/// reaches them, as they share its process group).
#[cfg(not(target_os = "linux"))]
fn end_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::threads_override;

    #[test]
    fn runs_get_a_share_of_the_cores_unless_their_config_says() {
        let set = vec!["--set".to_string(), "learner_threads=3".to_string()];
        assert_eq!(threads_override("seed = 1\n", 3), set);
        assert_eq!(threads_override("learner_threads = 0\n", 3), set);
        assert!(threads_override("learner_threads = 2\n", 3).is_empty());
        let gym = "learner_threads = 2\n[[tasks]]\nenv = \"gym:HalfCheetah-v5\"\n";
        let workers = vec!["--set".to_string(), "python_workers=3".to_string()];
        assert_eq!(threads_override(gym, 3), workers);
        assert!(threads_override(&format!("python_workers = 1\n{gym}"), 3).is_empty());
    }
}
