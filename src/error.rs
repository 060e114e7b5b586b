//! How the binary tells a user's mistake (exit code 2) from a failure while running (exit 1).

use std::fmt;

/// A mistake in what the user asked for: a bad config key, env id, parameter, file or flag.
/// The binary prints it as one paragraph and exits with code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Turns any displayable error into a [`UsageError`] inside an `anyhow::Error`.
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.to_string()))
}

/// A run stopped by SIGINT or SIGTERM after saving what it had (see [`crate::interrupt`]).
/// The binary exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
#[derive(Debug)]
pub struct Interrupted {
    /// The signal's number.
    pub signal: i32,
    /// What was saved and how to go on, one paragraph.
    pub message: String,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// The exit code for `err`: 128 + the signal for an [`Interrupted`] run, 2 when a
/// [`UsageError`] is anywhere in its chain, else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if let Some(stop) = err.chain().find_map(|c| c.downcast_ref::<Interrupted>()) {
        128 + stop.signal
    } else if err.chain().any(|cause| cause.is::<UsageError>()) {
        2
    } else {
        1
    }
}

/// Folds a multi-line message (such as clap's, with its usage block and `--help` tip) into one
/// paragraph: lines trimmed and joined, the tip replaced by a short pointer to `--help`.
pub fn one_paragraph(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    format!("{} (see `polytask --help`)", lines.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_messages_fold_into_one_paragraph() {
        let text = "error: the following required arguments were not provided:\n  --env <ENV>\n\n\
                    Usage: polytask rollout --env <ENV>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_paragraph(text),
            "error: the following required arguments were not provided: --env <ENV> \
             Usage: polytask rollout --env <ENV> (see `polytask --help`)"
        );
    }

    #[test]
    fn usage_errors_exit_with_2_wherever_they_are_in_the_chain() {
        let err = usage("bad key").context("loading config");
        assert_eq!(exit_code(&err), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), 1);
    }
}
