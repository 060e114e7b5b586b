//! What the trainer writes to the logger, under CleanRL's familiar tag names, per task under
//! the task's name. Task curves use that task's own environment steps as x-axis, so that a
//! multi-task run and a single-task baseline line up; run-wide scalars use the global step
//! (environment steps of all tasks together).

use super::episodes::EpisodeLog;
use super::optimize::OptimizeReport;
use super::pair_tags::PairTags;
use super::storage::TaskStorage;
use crate::logger::Logger;

/// The tag names of one task, built once.
#[derive(Debug)]
struct TaskTags {
    episodic_return: String,
    episodic_length: String,
    policy_loss: String,
    value_loss: String,
    entropy: String,
    approx_kl: String,
    clipfrac: String,
    explained_variance: String,
    weight: String,
    /// `charts/<task>/<metric>_rate` of each environment metric (see [`Tags::with_metrics`]).
    rates: Vec<String>,
}

/// The tags of one auxiliary loss, and its task (whose steps are its x-axis).
#[derive(Debug)]
struct AuxTags {
    task: usize,
    prediction_loss: String,
}

/// Every tag the trainer writes.
#[derive(Debug)]
pub struct Tags {
    tasks: Vec<TaskTags>,
    aux: Vec<AuxTags>,
    /// `surgery/grad_norm/<name>` and `aux/weight/<name>` of every row of `G`.
    rows: Vec<(String, String)>,
    /// Every row's name, for the weighting's diagnostics.
    names: Vec<String>,
    /// The pairs' cosines: `surgery/cos_sim/<a>__<b>` for each pair `a < b`, or their
    /// summary above `logging.pairwise_limit` rows.
    cos_sim: PairTags,
}

impl Tags {
    /// The tags for tasks named `names` and auxiliary losses named `aux_names` on the tasks
    /// `aux_tasks`; pair cosines per pair up to `pairwise_limit` rows (tasks and auxiliary
    /// losses together), summarised above.
    pub fn new(
        names: &[String],
        aux_names: &[String],
        aux_tasks: &[usize],
        pairwise_limit: usize,
    ) -> Self {
        let tasks = names
            .iter()
            .map(|n| TaskTags {
                episodic_return: format!("charts/{n}/episodic_return"),
                episodic_length: format!("charts/{n}/episodic_length"),
                policy_loss: format!("losses/{n}/policy_loss"),
                value_loss: format!("losses/{n}/value_loss"),
                entropy: format!("losses/{n}/entropy"),
                approx_kl: format!("losses/{n}/approx_kl"),
                clipfrac: format!("losses/{n}/clipfrac"),
                explained_variance: format!("losses/{n}/explained_variance"),
                weight: format!("surgery/weight/{n}"),
                rates: Vec::new(),
            })
            .collect();
        let aux = aux_names
            .iter()
            .zip(aux_tasks)
            .map(|(n, &task)| AuxTags {
                task,
                prediction_loss: format!("losses/{n}/prediction_loss"),
            })
            .collect();
        let all: Vec<String> = names.iter().chain(aux_names).cloned().collect();
        let cos_sim = PairTags::new("surgery/", &all, pairwise_limit);
        let rows = all
            .iter()
            .map(|n| (format!("surgery/grad_norm/{n}"), format!("aux/weight/{n}")))
            .collect();
        Self {
            tasks,
            aux,
            rows,
            names: all,
            cos_sim,
        }
    }

    /// Adds the tags of the tasks' environment metrics (`metrics[t]`: task `t`'s names):
    /// `charts/<task>/<metric>_rate`, e.g. `charts/reach-v3/success_rate`, the metric's
    /// mean over the task's recent episodes ([`super::episodes::MetricRate`]).
    pub fn with_metrics(mut self, metrics: &[Vec<String>]) -> Self {
        for ((tags, names), task) in self.tasks.iter_mut().zip(metrics).zip(&self.names) {
            tags.rates = names
                .iter()
                .map(|m| format!("charts/{task}/{m}_rate"))
                .collect();
        }
        self
    }

    /// Writes the episodes finished since the last call, and the metrics' rates.
    pub fn episodes(&self, logger: &mut dyn Logger, log: &mut EpisodeLog) {
        for e in log.drain() {
            let tags = &self.tasks[e.task];
            logger.scalar(&tags.episodic_return, e.episode_return, e.task_step);
            logger.scalar(&tags.episodic_length, e.length as f64, e.task_step);
        }
        for r in log.drain_rates() {
            logger.scalar(&self.tasks[r.task].rates[r.metric], r.rate, r.task_step);
        }
    }

    /// Writes one update's losses, diagnostics and gradient-surgery metrics; `weights` are
    /// the aggregator's task weights of its last step (`surgery/weight/<task>`), if it has them.
    pub fn update(
        &mut self,
        logger: &mut dyn Logger,
        log: &EpisodeLog,
        report: &OptimizeReport,
        storage: &[TaskStorage],
        weights: Option<&[f64]>,
        run: RunScalars,
    ) {
        let global = log.global_step();
        let stats = &report.stats;
        logger.scalar("charts/learning_rate", run.learning_rate, global);
        logger.scalar("charts/SPS", run.sps, global);
        for (t, tags) in self.tasks.iter().enumerate() {
            let step = log.task_steps(t);
            let l = &report.losses[t];
            let value = |x: &tch::Tensor| x.double_value(&[]);
            logger.scalar(&tags.policy_loss, value(&l.policy), step);
            logger.scalar(&tags.value_loss, value(&l.value), step);
            logger.scalar(&tags.entropy, value(&l.entropy), step);
            logger.scalar(&tags.approx_kl, value(&l.approx_kl), step);
            logger.scalar(&tags.clipfrac, value(&l.clipfrac), step);
            logger.scalar(
                &tags.explained_variance,
                storage[t].explained_variance(),
                step,
            );
            if let Some(&w) = weights.and_then(|w| w.get(t)) {
                logger.scalar(&tags.weight, w, global);
            }
        }
        for (a, loss) in self.aux.iter().zip(&report.aux_losses) {
            let step = log.task_steps(a.task);
            logger.scalar(&a.prediction_loss, loss.double_value(&[]), step);
        }
        for (t, (norm, weight)) in self.rows.iter().enumerate() {
            logger.scalar(norm, stats.norms[t], global);
            if let Some(w) = &report.weights {
                logger.scalar(weight, w[t], global);
            }
        }
        for d in &report.diagnostics {
            let tag = match d.task {
                Some(t) => format!("aux/{}/{}", d.name, self.names[t]),
                None => format!("aux/{}", d.name),
            };
            logger.scalar(&tag, d.value, global);
        }
        logger.scalar("surgery/conflicts", stats.conflicts as f64, global);
        if let Some(norm) = report.grad_norm {
            logger.scalar("losses/grad_norm", norm, global);
        }
        self.cos_sim.write(logger, stats, global);
    }
}

/// Run-wide scalars of one update.
#[derive(Debug, Clone, Copy)]
pub struct RunScalars {
    /// The learning rate used.
    pub learning_rate: f64,
    /// Environment steps per second since the start (all tasks).
    pub sps: f64,
}
