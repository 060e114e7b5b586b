//! [`Progress`]: the console progress bar of a training run.

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};

/// Two lines on standard error: elapsed time, a bar of global environment steps, the steps
/// per second and the ETA; below it the recent mean return of each task.
///
/// Quiet mode prints nothing; so does a run whose standard error is not a terminal (CI,
/// redirected output), where TensorBoard and the final report carry the numbers.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

const TEMPLATE: &str = "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} steps  \
                        {prefix} SPS  ETA {eta}\n{wide_msg}";

impl Progress {
    /// A bar that goes to `total_steps` global environment steps; hidden when `quiet`.
    pub fn new(total_steps: u64, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(total_steps)
        };
        bar.set_length(total_steps);
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    /// Moves the bar to global step `step`, shows `sps` (environment steps per second) and
    /// the recent mean return of each task (NaN, before a task's first episode ends, shows
    /// as `-`).
    pub fn update<S: AsRef<str>>(&self, step: u64, sps: f64, returns: &[(S, f64)]) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(step);
        self.bar.set_prefix(format!("{sps:.0}"));
        self.bar.set_message(returns_line(returns));
    }

    /// Prints a line above the bar (an evaluation result, a checkpoint written).
    pub fn println(&self, line: impl AsRef<str>) {
        self.bar.println(line);
    }

    /// Leaves the bar, as it is, on the screen.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// `mean return  cartpole 195.3 | acrobot -80.1`.
fn returns_line<S: AsRef<str>>(returns: &[(S, f64)]) -> String {
    let mut line = String::from("mean return ");
    for (i, (task, value)) in returns.iter().enumerate() {
        let sep = if i == 0 { " " } else { " | " };
        let _ = if value.is_nan() {
            write!(line, "{sep}{} -", task.as_ref())
        } else {
            write!(line, "{sep}{} {value:.1}", task.as_ref())
        };
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_line_lists_each_tasks_return() {
        let returns = [
            ("cartpole", 195.34),
            ("acrobot", -80.06),
            ("pong", f64::NAN),
        ];
        assert_eq!(
            returns_line(&returns),
            "mean return  cartpole 195.3 | acrobot -80.1 | pong -"
        );
        let owned = vec![("a".to_owned(), 1.0)];
        assert_eq!(returns_line(&owned), "mean return  a 1.0");
    }

    #[test]
    fn the_template_parses_and_quiet_mode_is_hidden() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
        let progress = Progress::new(1000, true);
        assert!(progress.bar.is_hidden());
        progress.update(500, 1234.5, &[("cartpole", 20.0)]);
        progress.println("eval: 500.0");
        progress.finish();
    }
}
