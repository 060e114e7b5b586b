//! The training loop of multi-task SAC, read top to bottom like CleanRL's `sac_continuous_action.py`
//! for several tasks: seeding, environments, the learner and one replay buffer per task; then
//! per iteration `sac.train_freq` steps of every environment (uniformly random actions until
//! `sac.learning_starts`), `sac.gradient_steps` updates on minibatches holding
//! `sac.batch_size` transitions of every task, logging and checkpoints; evaluation at the end.
//!
//! A checkpoint holds the networks, target critic, temperatures and the three optimizers
//! (`model.safetensors`), both combiners' state and the environments (`resume.bin`), and each
//! task's replay buffer, saved incrementally into `RUN/replay/<task>/` before the checkpoint
//! (see [`super::replay`]) and read back up to the checkpoint's count on resume. Random
//! streams are reseeded every iteration from the run's seed and the iteration number, so a
//! resumed run continues exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use polytask_agents::combine::Combiner;
use polytask_agents::kernels::KernelChoice;
use polytask_agents::sac::{Sac, SacBatch};
use polytask_agents::update::{NonFinite, StepError};
use polytask_agents::{device, surgery, weighting};
use polytask_envs::{BoxSpace, Registry};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::checkpoint::{self, Checkpoint, CheckpointState};
use super::collect::NonFiniteAction;
use super::episodes::{metric_widths, task_metrics, EpisodeLog};
use super::evaluate::{final_evaluation, TaskEvaluation};
use super::metrics::Tags;
use super::normalize::TaskNormalizer;
use super::replay::{TaskBatch, TaskReplay};
use super::resume_state::{self, ResumeState};
use super::sac_collect::{self, SacPolicy, StepBuffers};
use super::sac_tags::SacTags;
use super::stages::Stages;
use super::trainer::{recent_returns, training_envs, Clock, IterationSplit};
use super::{checkpoint_dir, normalizers};
use crate::config::{Config, OnNonFinite, SacSection};
use crate::error::usage;
use crate::logger::Logger;
use crate::vec_env::VecEnv;

/// The folder of a SAC run's replay buffers, one subfolder per task index.
pub fn replay_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("replay")
}

/// What a SAC checkpoint's `resume.bin` holds: PPO's exact-resume state (the critic's
/// combiner in its `aggregator` and `weighting`), the actor's combiner, each task's replay
/// count at the checkpoint (0 for all when the buffers are not saved) and the updates taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SacResume {
    common: ResumeState,
    actor_aggregator: Vec<u8>,
    actor_weighting: Vec<u8>,
    replay_added: Vec<u64>,
    updates: u64,
}

/// Everything that changes while a SAC run trains.
pub(super) struct SacTrainer<'c> {
    config: &'c Config,
    section: SacSection,
    envs: VecEnv,
    sac: Sac,
    boxes: Vec<BoxSpace>,
    critic: Combiner,
    actor: Combiner,
    replay: Vec<TaskReplay>,
    batches: Vec<TaskBatch>,
    buffers: StepBuffers,
    /// Identity normalisers (SAC normalises nothing), for evaluation.
    norms: Vec<TaskNormalizer>,
    log: EpisodeLog,
    episode_tags: Tags,
    tags: SacTags,
    updates: u64,
    skipped_updates: u64,
    split: IterationSplit,
    learner_threads: usize,
    device: Device,
}

impl<'c> SacTrainer<'c> {
    /// Seeding, environments, learner, combiners and replay buffers, as at the start of a
    /// run (see [`super::trainer::Trainer::new`] for the seeding of a resumed run's
    /// environments).
    pub fn new(
        config: &'c Config,
        registry: &Registry,
        resuming: Option<&Checkpoint>,
    ) -> anyhow::Result<Self> {
        let device = device::resolve(config.device).map_err(usage)?;
        tch::set_num_threads(1);
        tch::manual_seed(config.seed as i64);
        let section = config.sac_section();
        let restart = resuming.map_or(0, |cp| cp.state.iteration);
        let envs = training_envs(config, registry, restart)?;
        let (tasks, boxes) = sac_collect::sac_tasks(envs.tasks())?;
        let sac = Sac::new(&tasks, &section.learner(&config.network.hidden), device);
        let [critic, actor] = [0, 1].map(|k| combiner(config, k));
        let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
        let envs_per_task: Vec<usize> = config.tasks.iter().map(|t| t.num_envs).collect();
        let metrics = task_metrics(&envs);
        let replay = (envs.tasks().iter())
            .map(|t| TaskReplay::new(section.buffer_size, t.obs_dim, t.act_dim))
            .collect();
        Ok(Self {
            critic: critic?,
            actor: actor?,
            replay,
            batches: vec![TaskBatch::default(); tasks.len()],
            buffers: StepBuffers::new(&envs),
            norms: normalizers(config, envs.tasks()),
            log: EpisodeLog::with_metrics(&envs_per_task, &metric_widths(&metrics)),
            episode_tags: Tags::new(&names, &[], &[], config.logging.pairwise_limit)
                .with_metrics(&metrics),
            tags: SacTags::new(&names, config.logging.pairwise_limit),
            updates: 0,
            skipped_updates: 0,
            split: IterationSplit::default(),
            learner_threads: super::learner_threads(config),
            config,
            section,
            envs,
            sac,
            boxes,
            device,
        })
    }

    /// Whether the task with the fewest environments has taken `learning_starts` steps.
    fn learning(&self) -> bool {
        let fewest = (0..self.config.tasks.len())
            .map(|t| self.log.task_steps(t))
            .min()
            .unwrap_or(0);
        fewest >= self.section.learning_starts
    }

    /// One minibatch of every task, drawn with `rng`, as the learner's tensors.
    fn minibatch(&mut self, rng: &mut rand_pcg::Pcg64) -> SacBatch {
        let rows = self.section.batch_size;
        let mut batch = SacBatch {
            obs: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            next_obs: Vec::new(),
            terminated: Vec::new(),
        };
        let device = self.device;
        let matrix = |values: &[f32], width: usize| {
            Tensor::from_slice(values)
                .view([rows as i64, width as i64])
                .to_device(device)
        };
        let vector = |values: &[f32]| Tensor::from_slice(values).to_device(device);
        for ((replay, drawn), task) in
            (self.replay.iter().zip(&mut self.batches)).zip(self.envs.tasks())
        {
            replay.sample_into(rows, rng, drawn);
            batch.obs.push(matrix(&drawn.obs, task.obs_dim));
            batch.actions.push(matrix(&drawn.actions, task.act_dim));
            batch.rewards.push(vector(&drawn.rewards));
            batch.next_obs.push(matrix(&drawn.next_obs, task.obs_dim));
            batch.terminated.push(vector(&drawn.terminated));
        }
        batch
    }

    /// The iteration's gradient steps; logs the last one's report when `log_now`.
    fn learn(
        &mut self,
        rng: &mut rand_pcg::Pcg64,
        iteration: u64,
        log_now: bool,
        logger: &mut dyn Logger,
        clock: &Clock,
    ) -> anyhow::Result<()> {
        let steps = self.section.gradient_steps;
        for g in 0..steps {
            let batch = self.minibatch(rng);
            let stats = log_now && g + 1 == steps;
            let report = self
                .sac
                .update(&batch, &mut self.critic, &mut self.actor, stats);
            self.updates += 1;
            let report = match report {
                Ok(report) => report,
                Err(StepError::NonFinite(_))
                    if self.config.algorithm.on_nonfinite == OnNonFinite::Skip =>
                {
                    self.skipped_updates += 1;
                    continue;
                }
                Err(e) => return Err(self.diverged(e.into(), iteration)),
            };
            if stats {
                let weights = [
                    self.critic.aggregator().task_weights(),
                    self.actor.aggregator().task_weights(),
                ];
                let sps = clock.sps(self.log.global_step());
                self.tags.write(logger, &self.log, &report, weights, sps);
                if self.config.algorithm.on_nonfinite == OnNonFinite::Skip {
                    let skipped = self.skipped_updates as f64;
                    logger.scalar("charts/skipped_updates", skipped, self.log.global_step());
                }
            }
        }
        self.critic.end_iteration();
        self.actor.end_iteration();
        Ok(())
    }

    /// Names the task and update of a divergence found by the guards; other errors pass
    /// unchanged.
    fn diverged(&self, error: anyhow::Error, iteration: u64) -> anyhow::Error {
        let name = |t: usize| self.config.tasks[t].name.as_str();
        let what = if let Some(bad) = error.downcast_ref::<NonFinite>() {
            let whose = bad.task.map_or("the shared weights".to_string(), |t| {
                format!("task `{}`", name(t))
            });
            format!("{whose}: {bad}; the update was not applied")
        } else if let Some(bad) = error.downcast_ref::<NonFiniteAction>() {
            format!("task `{}`: {bad}", name(bad.task))
        } else {
            return error;
        };
        anyhow::anyhow!(
            "training diverged in iteration {iteration} (update {}): {what}. The last \
             checkpoint holds finite weights; lower the `sac` learning rates or set \
             `algorithm.on_nonfinite = \"skip\"` to drop such updates",
            self.updates
        )
    }
}

/// The combiner of the critic (`k = 0`) or the actor (`k = 1`): the configured aggregator,
/// seeded apart for each, and weighting.
fn combiner(config: &Config, k: u64) -> anyhow::Result<Combiner> {
    let mut aggregator =
        surgery::by_name_with(&config.surgery.aggregator, &config.surgery.params).map_err(usage)?;
    aggregator.reseed(config.seed.wrapping_add(k));
    let roles = crate::config::roles(&config.tasks, &config.aux_losses);
    let weighting = weighting::optional(&config.weighting.name, &config.weighting.params, &roles)
        .map_err(usage)?;
    Ok(Combiner::new(aggregator, weighting))
}

impl Stages for SacTrainer<'_> {
    fn restore(
        &mut self,
        cp: &Checkpoint,
        run_dir: &Path,
        logger: &dyn Logger,
    ) -> anyhow::Result<u64> {
        let dir = &cp.dir;
        let model = dir.join("model.safetensors");
        self.sac
            .load_named_state(&cp.read_tensors(false)?)
            .map_err(|e| usage(format!("cannot load {}: {e}", model.display())))?;
        if cp.state.task_steps.len() != self.config.tasks.len() {
            return Err(usage(format!(
                "checkpoint {}: it counts steps of {} tasks, the config has {}",
                dir.display(),
                cp.state.task_steps.len(),
                self.config.tasks.len()
            )));
        }
        self.log.set_task_steps(&cp.state.task_steps);
        let path = dir.join(checkpoint::RESUME);
        let bytes = cp.resume_bytes()?.ok_or_else(|| {
            usage(format!(
                "checkpoint {}: {} is missing",
                dir.display(),
                path.display()
            ))
        })?;
        let saved: SacResume = postcard::from_bytes(&bytes).map_err(|e| {
            usage(format!(
                "checkpoint file {} is damaged: {e}",
                path.display()
            ))
        })?;
        let damaged = |what: &dyn std::fmt::Display| {
            usage(format!("checkpoint file {}: {what}", path.display()))
        };
        let fresh = self
            .envs
            .load_state(&saved.common.envs)
            .map_err(|e| damaged(&e))?;
        for (task, env, rows) in fresh {
            eprintln!(
                "warning: task `{task}`: environment `{env}` cannot save its state, so its \
                 {rows} environment(s) start fresh episodes instead of continuing exactly"
            );
        }
        let combiners = [
            (
                &mut self.critic,
                &saved.common.aggregator,
                &saved.common.weighting,
            ),
            (
                &mut self.actor,
                &saved.actor_aggregator,
                &saved.actor_weighting,
            ),
        ];
        for (combiner, aggregator, weighting) in combiners {
            (combiner.aggregator_mut().load_state(aggregator)).map_err(|e| damaged(&e))?;
            combiner
                .load_weighting_state(weighting)
                .map_err(|e| damaged(&e))?;
        }
        self.log
            .set_recent_returns(&saved.common.recent_returns)
            .ok_or_else(|| damaged(&"its recent returns are of other tasks"))?;
        self.skipped_updates = saved.common.skipped_updates;
        self.updates = saved.updates;
        self.load_replay(run_dir, &saved.replay_added)?;
        resume_state::rewind_event_files(run_dir, &saved.common.event_files, logger.event_file())?;
        Ok(cp.state.iteration)
    }

    /// `train_freq` steps of every environment, then (once learning has started) the
    /// gradient steps, and logging.
    fn iteration(
        &mut self,
        iteration: u64,
        _iterations: u64,
        logger: &mut dyn Logger,
        clock: &Clock,
    ) -> anyhow::Result<()> {
        let seed = resume_state::iteration_seed(self.config.seed, iteration);
        tch::manual_seed(seed);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed as u64);
        let started = Instant::now();
        tch::set_num_threads(self.learner_threads as i32);
        for _ in 0..self.section.train_freq {
            let random = (!self.learning()).then_some(&mut rng as &mut dyn rand::RngCore);
            let stepped = sac_collect::step(
                &self.sac,
                &self.boxes,
                &mut self.envs,
                &mut self.replay,
                &mut self.buffers,
                random,
                &mut self.log,
            );
            stepped.map_err(|e| self.diverged(e, iteration))?;
        }
        self.episode_tags.episodes(logger, &mut self.log);
        let collected = Instant::now();
        self.split.collect += collected - started;
        // SB3 trains once `num_timesteps > learning_starts`.
        let fewest = (0..self.config.tasks.len())
            .map(|t| self.log.task_steps(t))
            .min();
        let result = match fewest.unwrap_or(0) > self.section.learning_starts {
            true => {
                let every = self.config.logging.log_interval.max(1) as u64;
                let log_now = iteration.is_multiple_of(every);
                self.learn(&mut rng, iteration, log_now, logger, clock)
            }
            false => Ok(()),
        };
        tch::set_num_threads(1);
        self.split.learn += collected.elapsed();
        result
    }

    fn save(
        &mut self,
        run_dir: &Path,
        iteration: u64,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<()> {
        logger.flush()?;
        let mut replay_added = vec![0; self.replay.len()];
        if self.section.save_replay {
            for (t, (replay, added)) in self.replay.iter_mut().zip(&mut replay_added).enumerate() {
                replay.save(&replay_dir(run_dir).join(t.to_string()))?;
                *added = replay.added();
            }
        }
        let state = CheckpointState {
            version: checkpoint::VERSION,
            config: self.config.resolved_toml.clone(),
            iteration,
            task_steps: self.log.all_task_steps(),
            optimizer_steps: self.updates as i64,
            normalizers: self.norms.iter().map(TaskNormalizer::state).collect(),
            kernels: KernelChoice::default(),
        };
        let resume = SacResume {
            common: ResumeState {
                envs: self.envs.save_state(),
                aggregator: self.critic.aggregator().save_state(),
                weighting: self.critic.save_weighting_state(),
                recent_returns: self.log.recent_returns(),
                skipped_updates: self.skipped_updates,
                event_files: resume_state::event_files(run_dir)?,
            },
            actor_aggregator: self.actor.aggregator().save_state(),
            actor_weighting: self.actor.save_weighting_state(),
            replay_added,
            updates: self.updates,
        };
        let bytes = postcard::to_allocvec(&resume).expect("the resume state serialises");
        let tensors = self.sac.named_state();
        let model: Vec<(String, &Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        checkpoint::save_tensors(&checkpoint_dir(run_dir), &model, &[], &state, &bytes)
    }

    fn evaluate(
        &self,
        registry: &Registry,
        logger: &mut dyn Logger,
    ) -> anyhow::Result<Vec<TaskEvaluation>> {
        let policy = SacPolicy {
            sac: &self.sac,
            boxes: &self.boxes,
        };
        final_evaluation(
            &policy,
            self.config,
            &self.norms,
            registry,
            &self.log,
            logger,
        )
    }

    fn log(&self) -> &EpisodeLog {
        &self.log
    }

    fn num_rows(&self) -> usize {
        self.envs.num_rows()
    }

    fn split(&self) -> IterationSplit {
        self.split
    }

    fn recent(&self) -> Vec<(&str, f64)> {
        recent_returns(self.config, &self.log)
    }
}

impl SacTrainer<'_> {
    /// Reads each task's replay buffer back to the checkpoint's count `added` (empty buffers
    /// when the run does not save them, with a warning if the checkpoint counted any).
    fn load_replay(&mut self, run_dir: &Path, added: &[u64]) -> anyhow::Result<()> {
        if !self.section.save_replay {
            return Ok(());
        }
        for (t, (replay, &count)) in self.replay.iter_mut().zip(added).enumerate() {
            if count == 0 {
                continue;
            }
            let task = &self.envs.tasks()[t];
            let dir = replay_dir(run_dir).join(t.to_string());
            *replay = TaskReplay::load(
                &dir,
                self.section.buffer_size,
                task.obs_dim,
                task.act_dim,
                count,
            )
            .map_err(|e| {
                usage(format!(
                    "cannot resume the replay buffer of task `{}`: {e:#}",
                    task.name
                ))
            })?;
        }
        Ok(())
    }
}
