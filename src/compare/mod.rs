//! The machinery of `polytask compare` ([`crate::commands::compare`]): every method of a
//! config's `[compare]` section (the multi-task agent under several aggregators or
//! variants, and the single-task baseline) planned on the same tasks, budgets and seeds, run
//! as separate training processes, each with its own TensorBoard directory under
//! `OUT/runs/<method>/seed<k>`, and summarised in a report with tables, statistics and plots.

pub mod conflict_summary;
pub mod conflicts;
mod curves;
pub mod jobs;
pub mod normalised;
mod plan;
pub mod plots;
pub mod report;
mod stats;
pub mod summary;

pub use curves::{read_run, Curve, RunCurves};
pub use plan::{plan, Job, Plan, TaskInfo};
pub use plots::{CONFLICT_FREQUENCY, GRADIENT_CONFLICT, LEARNING_CURVES};
pub use report::{results_csv, verdict};
pub use stats::{
    auc, binned, mean_ci95, median, percentile, steps_to_threshold, welch, Welch, THRESHOLD_WINDOW,
};
pub use summary::{summarise, Cell, Summary, BINS};
