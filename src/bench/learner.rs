//! `polytask bench learner`: the cost of one learner step (forward, per-task losses, per-task
//! gradients, aggregation, Adam) with a gradient-surgery aggregator, against the same step
//! with the plain `sum` (what one backward pass of `Σ_t L_t` gives), measured alternately in
//! the same run on the CartPole-family network.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, Output, TaskShape};
use polytask_agents::adam::{clip_global_norm, Adam, AdamConfig};
use polytask_agents::surgery::{self, Aggregator};
use polytask_agents::update::MultiTaskOptimizer;
use tch::{Device, Kind, Tensor};

use crate::error::usage;

/// Arguments of `polytask bench learner`.
#[derive(Debug, clap::Args)]
pub struct LearnerArgs {
    /// Number of tasks T (CartPole-shaped: 4 observations, 2 actions).
    #[arg(long, default_value_t = 10)]
    pub tasks: usize,
    /// Rows per task in the minibatch.
    #[arg(long, default_value_t = 256)]
    pub rows: i64,
    /// Hidden widths (the first is each task's stem, the rest shared).
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub hidden: Vec<i64>,
    /// The aggregator to compare with `sum`.
    #[arg(long, default_value = "pcgrad")]
    pub aggregator: String,
    /// Learner steps per measured run.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Runs of each; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

/// Runs the benchmark and returns its report.
pub fn run(args: &LearnerArgs) -> anyhow::Result<String> {
    if args.tasks == 0 || args.rows <= 0 || args.steps == 0 || args.repeat == 0 {
        return Err(usage(
            "bench learner: --tasks, --rows, --steps and --repeat must be at least 1",
        ));
    }
    let mut method = surgery::by_name(&args.aggregator).map_err(usage)?;
    let mut sum = surgery::by_name("sum").map_err(usage)?;
    tch::manual_seed(0);
    tch::set_num_threads(1);
    let shapes = vec![
        TaskShape {
            obs_dim: 4,
            action: ActionSpec::Discrete(2)
        };
        args.tasks
    ];
    let config = NetConfig {
        hidden: args.hidden.clone(),
        ..NetConfig::default()
    };
    let net = ActorCritic::new(&shapes, &config, Device::Cpu);
    let mut opt = MultiTaskOptimizer::new(&net, AdamConfig::default(), 0.5);
    let batch = Batch::new(args.tasks, args.rows);
    let mut plain = Adam::new(&[net.flat_params()], AdamConfig::default());
    let (mut base, mut summed, mut with) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.repeat {
        base.push(time_plain_steps(&net, &mut plain, &batch, args.steps));
        summed.push(time_steps(
            &net,
            &mut opt,
            sum.as_mut(),
            &batch,
            args.steps,
        )?);
        with.push(time_steps(
            &net,
            &mut opt,
            method.as_mut(),
            &batch,
            args.steps,
        )?);
    }
    let (base, summed, with) = (median(base), median(summed), median(with));
    let ratio = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "learner step, {} tasks × {} rows, hidden {:?}, {} shared parameters, CPU, 1 thread",
        args.tasks,
        args.rows,
        args.hidden,
        net.shared_len()
    );
    let rows = [
        ("plain backward of Σ L_t (baseline)".to_string(), base),
        ("per-task gradients + sum".to_string(), summed),
        (format!("per-task gradients + {}", args.aggregator), with),
    ];
    for (name, time) in rows {
        let _ = writeln!(
            report,
            "  {name:<36} {:>9.1} µs/step  {:>5.2}×",
            micros(time),
            ratio(time)
        );
    }
    Ok(report)
}

/// A fixed random minibatch of every task.
struct Batch {
    obs: Vec<Tensor>,
    actions: Vec<Tensor>,
    advantages: Vec<Tensor>,
}

impl Batch {
    fn new(tasks: usize, rows: i64) -> Self {
        let f = (Kind::Float, Device::Cpu);
        Self {
            obs: (0..tasks).map(|_| Tensor::randn([rows, 4], f)).collect(),
            actions: (0..tasks)
                .map(|_| Tensor::randint(2, [rows], (Kind::Int64, Device::Cpu)))
                .collect(),
            advantages: (0..tasks).map(|_| Tensor::randn([rows], f)).collect(),
        }
    }
}

/// The baseline: one backward pass of `Σ_t L_t` over every parameter, clipping, Adam.
fn time_plain_steps(net: &ActorCritic, adam: &mut Adam, batch: &Batch, steps: usize) -> Duration {
    let params: Vec<&Tensor> = net.named_params().into_iter().map(|(_, p)| p).collect();
    let start = Instant::now();
    for _ in 0..steps {
        let out = net.forward(&batch.obs);
        let total = Tensor::stack(&batch.losses(&out), 0).sum(Kind::Float);
        let grads = Tensor::run_backward(&[total], &params, false, false);
        let flat: Vec<Tensor> = grads.iter().map(|g| g.reshape([-1])).collect();
        let mut flat = [Tensor::cat(&flat, 0)];
        let _ = clip_global_norm(&mut flat, 0.5);
        adam.step(&[net.flat_params()], &flat, 1e-5);
    }
    start.elapsed() / steps as u32
}

impl Batch {
    /// A policy-gradient-like loss per task that reaches every weight.
    fn losses(&self, out: &Output) -> Vec<Tensor> {
        (0..self.obs.len())
            .map(|t| {
                let d = &out.dists[t];
                -(d.log_prob(&self.actions[t]) * &self.advantages[t]).mean(Kind::Float)
                    + out.values[t].square().mean(Kind::Float)
            })
            .collect()
    }
}

fn time_steps(
    net: &ActorCritic,
    opt: &mut MultiTaskOptimizer,
    aggregator: &mut dyn Aggregator,
    batch: &Batch,
    steps: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..steps {
        let out = net.forward(&batch.obs);
        opt.step(net, &batch.losses(&out), &out, aggregator, 1e-5)?;
    }
    Ok(start.elapsed() / steps as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
