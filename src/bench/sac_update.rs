//! Where one multi-task SAC update's time goes: [`polytask_agents::sac::Sac::update_timed`] on
//! random minibatches of a config's shapes (its first task's observation and action sizes,
//! `[sac] batch_size` rows, `network.hidden`), timed on the learner's threads after a
//! warm-up. `polytask bench train --algo sac` prints it beside the whole run's speed.

use std::time::Instant;

use polytask_agents::combine::Combiner;
use polytask_agents::sac::{Sac, SacBatch, SacTask, SacTimings};
use polytask_agents::surgery;
use tch::{Device, Kind, Tensor};

use crate::config::Config;

/// The mean time of one update in milliseconds and its stages, as
/// `"4.1 ms: sample+alpha 0.4, targets 0.6, ..."`, over `updates` updates of `config`'s
/// first task with `actions` action dimensions.
pub fn split(config: &Config, actions: i64, updates: u32) -> anyhow::Result<String> {
    let section = config.sac_section();
    let threads = crate::train::learner_threads(config);
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let task = SacTask {
        obs_dim: config.tasks[0].obs_shape.iter().product::<usize>() as i64,
        action_dim: actions,
    };
    let learner = section.learner(&config.network.hidden);
    let mut sac = Sac::new(&[task], &learner, Device::Cpu);
    let batch = random_batch(task, section.batch_size as i64);
    let combiner =
        || -> anyhow::Result<Combiner> { Ok(Combiner::new(surgery::by_name("sum")?, None)) };
    let (mut critic, mut actor) = (combiner()?, combiner()?);
    for _ in 0..20 {
        sac.update(&batch, &mut critic, &mut actor, false)?;
    }
    let mut timings = SacTimings::default();
    let start = Instant::now();
    for _ in 0..updates {
        sac.update_timed(&batch, &mut critic, &mut actor, false, &mut timings)?;
    }
    let whole = start.elapsed().as_secs_f64() * 1e3 / f64::from(updates);
    tch::set_num_threads(1);
    let parts: Vec<String> = (timings.parts().iter())
        .map(|(name, d)| {
            let ms = d.as_secs_f64() * 1e3 / f64::from(timings.updates);
            format!("{name} {ms:.2}")
        })
        .collect();
    Ok(format!("{whole:.2} ms: {} (ms)", parts.join(", ")))
}

/// A minibatch of `rows` random transitions of `task`: Gaussian observations and rewards,
/// uniform actions in `[-1, 1]`, no terminations.
fn random_batch(task: SacTask, rows: i64) -> SacBatch {
    let f = (Kind::Float, Device::Cpu);
    SacBatch {
        obs: vec![Tensor::randn([rows, task.obs_dim], f)],
        actions: vec![Tensor::rand([rows, task.action_dim], f) * 2.0 - 1.0],
        rewards: vec![Tensor::randn([rows], f)],
        next_obs: vec![Tensor::randn([rows, task.obs_dim], f)],
        terminated: vec![Tensor::zeros([rows], f)],
    }
}
