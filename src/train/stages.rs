//! The stages of a training run as [`super::train`] calls them, whatever the algorithm:
//! restore a checkpoint, run iterations, save checkpoints, evaluate at the end. PPO and A2C
//! ([`super::trainer::Trainer`]) and SAC ([`super::sac_trainer::SacTrainer`]) implement them.

use std::path::Path;

use polytask_envs::Registry;

use super::checkpoint::Checkpoint;
use super::episodes::EpisodeLog;
use super::evaluate::TaskEvaluation;
use super::trainer::{Clock, IterationSplit};
use crate::logger::Logger;

/// One algorithm's training loop, stage by stage.
pub(super) trait Stages {
    /// Restores the checkpoint `cp` and cuts the event files back to it; returns the
    /// iteration it was taken after.
    fn restore(
        &mut self,
        cp: &Checkpoint,
        run_dir: &Path,
        logger: &dyn Logger,
    ) -> anyhow::Result<u64>;

    /// Iteration `iteration` of `iterations` (1-based): collecting, learning, logging.
    fn iteration(
        &mut self,
        iteration: u64,
        iterations: u64,
        logger: &mut dyn Logger,
        clock: &Clock,
    ) -> anyhow::Result<()>;

    /// Writes a checkpoint of the state after `iteration`.
    fn save(
        &mut self,
        run_dir: &Path,
        iteration: u64,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<()>;

    /// The final evaluation (none when `logging.eval_episodes` is 0), logged per task.
    fn evaluate(
        &self,
        registry: &Registry,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<Vec<TaskEvaluation>>;

    /// Step counts and finished episodes.
    fn log(&self) -> &EpisodeLog;

    /// Environment instances of all tasks.
    fn num_rows(&self) -> usize;

    /// Where the iterations spent their time.
    fn split(&self) -> IterationSplit;

    /// The main tasks' recent returns, for the console.
    fn recent(&self) -> Vec<(&str, f64)>;
}
