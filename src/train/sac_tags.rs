//! What a SAC run writes to the logger: CleanRL's SAC tags per task (`losses/<task>/qf1_values`,
//! `qf_loss`, `actor_loss`, `alpha`, `alpha_loss`) at the task's own environment step, and the
//! gradient-surgery tags of each of the two combined losses under `surgery/critic/...` and
//! `surgery/actor/...` at the global step (see [`super::metrics`] for PPO's).

use polytask_agents::combine::Combined;
use polytask_agents::sac::SacReport;

use super::episodes::EpisodeLog;
use super::pair_tags::PairTags;
use crate::logger::Logger;

/// The surgery tags of one combined loss.
#[derive(Debug)]
struct StageTags {
    /// `surgery/<stage>/grad_norm/<task>`.
    grad_norm: Vec<String>,
    /// `surgery/<stage>/weight/<task>`: the aggregator's task weights.
    weight: Vec<String>,
    /// `surgery/<stage>/task_weight/<task>`: the weighting's weights.
    task_weight: Vec<String>,
    /// `surgery/<stage>/cos_sim/<a>__<b>`, or their summary above the pairwise limit.
    cos_sim: PairTags,
    /// `surgery/<stage>/conflicts`.
    conflicts: String,
}

impl StageTags {
    fn new(stage: &str, names: &[String], pairwise_limit: usize) -> Self {
        let per_task = |what: &str| -> Vec<String> {
            (names.iter())
                .map(|n| format!("surgery/{stage}/{what}/{n}"))
                .collect()
        };
        let cos_sim = PairTags::new(&format!("surgery/{stage}/"), names, pairwise_limit);
        Self {
            grad_norm: per_task("grad_norm"),
            weight: per_task("weight"),
            task_weight: per_task("task_weight"),
            cos_sim,
            conflicts: format!("surgery/{stage}/conflicts"),
        }
    }

    fn write(
        &mut self,
        logger: &mut dyn Logger,
        combined: &Combined,
        weights: Option<&[f64]>,
        step: u64,
    ) {
        if let Some(stats) = &combined.stats {
            for (tag, norm) in self.grad_norm.iter().zip(&stats.norms) {
                logger.scalar(tag, *norm, step);
            }
            self.cos_sim.write(logger, stats, step);
            logger.scalar(&self.conflicts, stats.conflicts as f64, step);
        }
        for (tag, w) in self.weight.iter().zip(weights.unwrap_or_default()) {
            logger.scalar(tag, *w, step);
        }
        let task_weights = combined.weights.as_deref().unwrap_or_default();
        for (tag, w) in self.task_weight.iter().zip(task_weights) {
            logger.scalar(tag, *w, step);
        }
    }
}

/// Every tag of a SAC run but the episodes' ([`super::metrics::Tags::episodes`]).
#[derive(Debug)]
pub struct SacTags {
    /// Per task: `qf1_values`, `qf_loss`, `actor_loss`, `alpha`, `alpha_loss`.
    tasks: Vec<[String; 5]>,
    critic: StageTags,
    actor: StageTags,
}

/// The aggregators' task weights of the last step, critic's then actor's (when they have
/// them).
pub type StageWeights<'a> = [Option<&'a [f64]>; 2];

impl SacTags {
    /// The tags of tasks named `names`; pair cosines per pair up to `pairwise_limit` tasks,
    /// summarised above.
    pub fn new(names: &[String], pairwise_limit: usize) -> Self {
        let tasks = (names.iter())
            .map(|n| {
                ["qf1_values", "qf_loss", "actor_loss", "alpha", "alpha_loss"]
                    .map(|what| format!("losses/{n}/{what}"))
            })
            .collect();
        Self {
            tasks,
            critic: StageTags::new("critic", names, pairwise_limit),
            actor: StageTags::new("actor", names, pairwise_limit),
        }
    }

    /// Writes one update's report, the aggregators' `weights` and the run's `sps`.
    pub fn write(
        &mut self,
        logger: &mut dyn Logger,
        log: &EpisodeLog,
        report: &SacReport,
        weights: StageWeights,
        sps: f64,
    ) {
        let global = log.global_step();
        logger.scalar("charts/SPS", sps, global);
        for (t, tags) in self.tasks.iter().enumerate() {
            let values = [
                report.qf1_values[t],
                report.qf_loss[t],
                report.actor_loss[t],
                report.alpha[t],
                report.alpha_loss[t],
            ];
            for (tag, value) in tags.iter().zip(values) {
                logger.scalar(tag, value, log.task_steps(t));
            }
        }
        self.critic
            .write(logger, &report.critic, weights[0], global);
        self.actor.write(logger, &report.actor, weights[1], global);
    }
}

#[cfg(test)]
mod tests {
    use polytask_agents::surgery::GradStats;

    use super::*;
    use crate::logger::MemoryLogger;

    #[test]
    fn writes_cleanrls_tags_per_task_and_surgery_tags_per_stage() {
        let names = ["a".to_string(), "b".to_string()];
        let mut tags = SacTags::new(&names, 10);
        let stats = GradStats {
            tasks: 2,
            norms: vec![1.0, 2.0],
            cosine: vec![1.0, -0.5, -0.5, 1.0],
            conflicts: 1,
        };
        let combined = Combined {
            weights: None,
            stats: Some(stats),
        };
        let report = SacReport {
            qf1_values: vec![1.0, 2.0],
            qf_loss: vec![0.1, 0.2],
            actor_loss: vec![-1.0, -2.0],
            alpha: vec![0.5, 0.6],
            alpha_loss: vec![0.0, 0.1],
            critic: combined.clone(),
            actor: combined,
        };
        let mut logger = MemoryLogger::new();
        let mut log = EpisodeLog::with_metrics(&[1, 1], &[0, 0]);
        log.set_task_steps(&[10, 10]);
        tags.write(&mut logger, &log, &report, [Some(&[0.4, 0.6]), None], 5.0);
        let value = |tag: &str| logger.last_scalar(tag);
        assert_eq!(value("losses/b/alpha"), Some(0.6));
        assert_eq!(value("losses/a/qf1_values"), Some(1.0));
        assert_eq!(value("surgery/critic/cos_sim/a__b"), Some(-0.5));
        assert_eq!(value("surgery/actor/grad_norm/b"), Some(2.0));
        assert_eq!(value("surgery/critic/weight/b"), Some(0.6));
        assert_eq!(value("surgery/actor/weight/b"), None);
        assert_eq!(value("surgery/actor/conflicts"), Some(1.0));
    }
}
