//! Times one multi-task SAC update ([`polytask_agents::sac::Sac::update`]) at Pendulum's
//! shapes (3 observations, 1 action, batch 256 per task, hidden 256×256, the rl-zoo
//! learning rate 1e-3), the setting of Stable-Baselines3 2.9's SAC step that it is
//! compared with. Usage: `cargo run --release -p polytask-agents --example sac_update --
//! [threads] [tasks] [steps]`.

use std::time::Instant;

use polytask_agents::combine::Combiner;
use polytask_agents::sac::{Sac, SacBatch, SacConfig, SacTask, SacTimings};
use polytask_agents::surgery;
use tch::{Device, Kind, Tensor};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments are counts"))
        .collect();
    let threads = args.first().copied().unwrap_or(1);
    let tasks = args.get(1).copied().unwrap_or(1);
    let steps = args.get(2).copied().unwrap_or(500);
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let task = SacTask {
        obs_dim: 3,
        action_dim: 1,
    };
    let config = SacConfig {
        actor_lr: 1e-3,
        critic_lr: 1e-3,
        alpha_lr: 1e-3,
        ..SacConfig::default()
    };
    let mut sac = Sac::new(&vec![task; tasks], &config, Device::Cpu);
    let f = (Kind::Float, Device::Cpu);
    let rows = 256;
    let batch = SacBatch {
        obs: (0..tasks).map(|_| Tensor::randn([rows, 3], f)).collect(),
        actions: (0..tasks)
            .map(|_| Tensor::rand([rows, 1], f) * 2.0 - 1.0)
            .collect(),
        rewards: (0..tasks).map(|_| Tensor::randn([rows], f)).collect(),
        next_obs: (0..tasks).map(|_| Tensor::randn([rows, 3], f)).collect(),
        terminated: (0..tasks).map(|_| Tensor::zeros([rows], f)).collect(),
    };
    let combiner = || Combiner::new(surgery::by_name("sum").expect("sum exists"), None);
    let (mut critic, mut actor) = (combiner(), combiner());
    for _ in 0..50 {
        sac.update(&batch, &mut critic, &mut actor, false)
            .expect("a finite update");
    }
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        for _ in 0..steps / 10 {
            sac.update(&batch, &mut critic, &mut actor, false)
                .expect("a finite update");
        }
        times.push(start.elapsed().as_secs_f64() * 1e3 / (steps / 10) as f64);
    }
    times.sort_by(f64::total_cmp);
    let mut timings = SacTimings::default();
    for _ in 0..steps / 5 {
        sac.update_timed(&batch, &mut critic, &mut actor, false, &mut timings)
            .expect("a finite update");
    }
    let split: Vec<String> = (timings.parts().iter())
        .map(|(name, d)| {
            format!(
                "{name} {:.3}",
                d.as_secs_f64() * 1e3 / timings.updates as f64
            )
        })
        .collect();
    println!("split (ms): {}", split.join(", "));
    println!(
        "threads {threads}, tasks {tasks}: {:.3} ms per update (median of 10 runs; fastest {:.3})",
        times[5], times[0]
    );
}
