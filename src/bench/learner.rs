//! `polytask bench learner`: the cost of one learner step, on the trainer's own update path
//! ([`crate::train::optimize`]), with `sum` (the per-task matrix summed: what one backward
//! pass of `Σ_t L_t` would give) against the same step with named surgery aggregators, for
//! several numbers of tasks.
//!
//! Each task is CartPole-shaped (4 observations, 2 actions) with its own stem and heads and the
//! shared trunk of the default network, or (`--network minatar`) a MinAtar game with the
//! MinAtar network (a convolution per task, or adapters and a shared convolution, then a
//! shared 128-unit layer, the value head on it); its rollout-shaped batch holds `rows` transitions
//! (observations, actions, old log-probabilities and values, advantages, returns) drawn once.
//! One measured run is one PPO update of `steps` epochs over one minibatch per task, so every
//! step is exactly the trainer's: forward, hand-written loss gradients, per-task backward,
//! aggregation, clipping and Adam. Methods alternate within each repeat; the median is kept.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask_agents::adam::AdamConfig;
use polytask_agents::combine::Combiner;
use polytask_agents::conv::{ConvConfig, ConvScheme, Grid};
use polytask_agents::kernels::KernelChoice;
use polytask_agents::profile::{Part, Profile, Split};
use polytask_agents::surgery;
use polytask_agents::update::MultiTaskOptimizer;
use tch::{Device, Kind, Tensor};

use crate::config::{AlgorithmConfig, AlgorithmName, KernelRequest, RawKernels};
use crate::error::usage;
use crate::train::kernels;
use crate::train::optimize::optimize;
use crate::train::storage::TaskStorage;

/// Arguments of `polytask bench learner`.
#[derive(Debug, clap::Args)]
pub struct LearnerArgs {
    /// Numbers of tasks T to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    pub tasks: Vec<usize>,
    /// The tasks and network: `cartpole` (4 observations, 2 actions, the `--hidden` tanh MLP
    /// with a separate critic) or `minatar` (the five MinAtar games' 10×10 grids and minimal
    /// action sets in turn, the MinAtar network with a shared critic; `--hidden` is ignored).
    #[arg(long, value_enum, default_value = "cartpole")]
    pub network: BenchNetwork,
    /// How the MinAtar network's tasks share convolutions.
    #[arg(long, value_enum, default_value = "per-task")]
    pub conv: BenchConv,
    /// Rows per task in the minibatch.
    #[arg(long, default_value_t = 256)]
    pub rows: usize,
    /// Hidden widths (the first is each task's stem, the rest shared).
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub hidden: Vec<i64>,
    /// The aggregators to compare with `sum`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pcgrad,mgda,upgrad,nash-mtl"
    )]
    pub aggregators: Vec<String>,
    /// Learner steps per measured run.
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    /// Runs of each; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The kernel settings to measure, each in its own table: `auto` (this machine's
    /// calibrated choice), `host`, `libtorch`.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    pub kernels: Vec<String>,
}

/// The tasks and network of `polytask bench learner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchNetwork {
    /// CartPole-shaped tasks, tanh MLP.
    Cartpole,
    /// MinAtar games, convolutional stems.
    Minatar,
}

/// The convolution sharing of `--network minatar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchConv {
    /// A convolution per task (16 filters 3×3).
    PerTask,
    /// A 1×1 adapter per task to 8 channels, one shared convolution.
    Adapter,
}

/// The MinAtar games' channels and minimal action counts: Asterix, Breakout, Freeway,
/// Seaquest, SpaceInvaders.
const MINATAR: [(i64, i64); 5] = [(4, 5), (4, 3), (7, 3), (10, 6), (6, 4)];

/// The benchmark's task shapes and network options.
fn network(args: &LearnerArgs, tasks: usize, kernels: KernelChoice) -> (Vec<TaskShape>, NetConfig) {
    match args.network {
        BenchNetwork::Cartpole => {
            let config = NetConfig {
                hidden: args.hidden.clone(),
                kernels,
                ..NetConfig::default()
            };
            let shape = TaskShape::vector(4, ActionSpec::Discrete(2));
            (vec![shape; tasks], config)
        }
        BenchNetwork::Minatar => {
            let shapes = (0..tasks)
                .map(|t| {
                    let (channels, actions) = MINATAR[t % MINATAR.len()];
                    let grid = Grid {
                        height: 10,
                        width: 10,
                        channels,
                    };
                    TaskShape::image(grid, ActionSpec::Discrete(actions))
                })
                .collect();
            let scheme = match args.conv {
                BenchConv::PerTask => ConvScheme::PerTask,
                BenchConv::Adapter => ConvScheme::Adapter { channels: 8 },
            };
            let config = NetConfig {
                hidden: vec![128],
                conv: ConvConfig {
                    scheme,
                    ..ConvConfig::default()
                },
                shared_critic: true,
                kernels,
                ..NetConfig::default()
            };
            (shapes, config)
        }
    }
}

/// Runs the benchmark and returns its report.
pub fn run(args: &LearnerArgs) -> anyhow::Result<String> {
    if args.tasks.contains(&0) || args.rows == 0 || args.steps == 0 || args.repeat == 0 {
        return Err(usage(
            "bench learner: --tasks, --rows, --steps and --repeat must be at least 1",
        ));
    }
    let mut names = vec!["sum".to_string()];
    names.extend(args.aggregators.iter().filter(|a| *a != "sum").cloned());
    for name in &names {
        surgery::by_name(name).map_err(usage)?;
    }
    if args.hidden.is_empty() || args.hidden.iter().any(|&h| h < 1) {
        return Err(usage("bench learner: --hidden needs widths of at least 1"));
    }
    tch::set_num_threads(1);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "learner step on the trainer's path: {} rows per task, {}, 1 thread, {}",
        args.rows,
        match args.network {
            BenchNetwork::Cartpole => format!("hidden {:?}", args.hidden),
            BenchNetwork::Minatar => {
                use clap::ValueEnum as _;
                let conv = args.conv.to_possible_value().expect("a named value");
                format!("MinAtar network, {} convolutions", conv.get_name())
            }
        },
        crate::cpu::model()
    );
    for setting in &args.kernels {
        let request = RawKernels::Name(setting.clone()).validate()?;
        table(args, &names, request, &mut report)?;
    }
    Ok(report)
}

/// The kernel choice that `request` makes for `tasks` tasks of `args`' shapes.
fn kernel_choice(args: &LearnerArgs, tasks: usize, request: KernelRequest) -> KernelChoice {
    match request {
        KernelRequest::Pinned(choice) => choice,
        KernelRequest::Auto => {
            let rows = vec![args.rows as i64; tasks];
            kernels::calibrated(&kernels::shapes(2, rows, &args.hidden))
        }
    }
}

/// Appends the table of one kernel setting to `report`: every aggregator at every T, and
/// the split of the summed step.
fn table(
    args: &LearnerArgs,
    names: &[String],
    request: KernelRequest,
    report: &mut String,
) -> anyhow::Result<()> {
    let _ = writeln!(
        report,
        "  {:>3}  {:<10} {:>10} {:>11} {:>8}",
        "T", "aggregator", "µs/step", "ns/row", "× sum"
    );
    let mut per_row_t1 = None;
    for &tasks in &args.tasks {
        let kernels = kernel_choice(args, tasks, request);
        let _ = writeln!(report, "  kernels: {}", kernels.summary());
        let (times, split) = measure(args, tasks, names, kernels)?;
        let sum = times[0];
        let per_row = |d: Duration| d.as_secs_f64() * 1e9 / (tasks * args.rows) as f64;
        if tasks == 1 {
            per_row_t1 = Some(per_row(sum));
        }
        for (name, &time) in names.iter().zip(&times) {
            let _ = writeln!(
                report,
                "  {tasks:>3}  {name:<10} {:>10.1} {:>11.1} {:>7.2}×",
                time.as_secs_f64() * 1e6,
                per_row(time),
                time.as_secs_f64() / sum.as_secs_f64()
            );
        }
        if let (Some(t1), true) = (per_row_t1, tasks > 1) {
            let _ = writeln!(
                report,
                "       per-row cost of `sum` at T = {tasks}: {:.2}× T = 1's",
                per_row(sum) / t1
            );
        }
        let _ = writeln!(
            report,
            "       `sum` step split: {}",
            describe(&split, args.steps)
        );
    }
    Ok(())
}

/// `products 40.1 µs (35%), …` per learner step.
pub fn describe(split: &Split, steps: usize) -> String {
    let total = split.total.as_secs_f64();
    let part = |name: &str, d: Duration| {
        let us = d.as_secs_f64() * 1e6 / steps as f64;
        format!(
            "{name} {us:.1} µs ({:.0}%)",
            100.0 * d.as_secs_f64() / total
        )
    };
    let mut parts: Vec<String> = (Part::ALL.iter().zip(split.parts))
        .map(|(p, d)| part(p.name(), d))
        .collect();
    parts.push(part("other", split.other()));
    parts.join(", ")
}

/// The median step time of each aggregator in `names` with `tasks` tasks, and the split of
/// one more run of the first.
pub(crate) fn measure(
    args: &LearnerArgs,
    tasks: usize,
    names: &[String],
    kernels: KernelChoice,
) -> anyhow::Result<(Vec<Duration>, Split)> {
    tch::manual_seed(0);
    let (shapes, config) = network(args, tasks, kernels);
    let net = ActorCritic::new(&shapes, &config, Device::Cpu);
    let storage: Vec<TaskStorage> = (shapes.iter())
        .map(|shape| rollout(args.rows, shape))
        .collect();
    let algorithm = AlgorithmConfig {
        name: AlgorithmName::Ppo,
        num_minibatches: 1,
        update_epochs: args.steps,
        ..AlgorithmConfig::default()
    };
    let update = |name: &str| -> anyhow::Result<()> {
        let aggregator = surgery::by_name(name).map_err(usage)?;
        let mut combiner = Combiner::new(aggregator, None);
        let mut opt = MultiTaskOptimizer::new(&net, AdamConfig::default(), 0.5);
        let (storage, lr) = (&storage, 1e-9);
        optimize(&net, &mut opt, &mut combiner, storage, &[], &algorithm, lr)?;
        Ok(())
    };
    let mut times = vec![Vec::new(); names.len()];
    // The first round warms up (allocator, caches) and is not kept.
    for round in 0..=args.repeat {
        for (name, times) in names.iter().zip(&mut times) {
            let start = Instant::now();
            update(name)?;
            if round > 0 {
                times.push(start.elapsed() / args.steps as u32);
            }
        }
    }
    let profile = Profile::start();
    update(&names[0])?;
    let split = profile.finish();
    Ok((times.into_iter().map(median).collect(), split))
}

/// A rollout of `rows` transitions of a task shaped `shape`, with random contents (an
/// image's cells 0 or 1).
fn rollout(rows: usize, shape: &TaskShape) -> TaskStorage {
    let obs_dim = shape.obs_dim;
    let actions = match shape.action {
        ActionSpec::Discrete(n) | ActionSpec::Continuous(n) => n,
    };
    let mut s = TaskStorage::new(rows, 1, obs_dim as usize, 1);
    let draw = |shape: i64, x: Tensor| -> Vec<f32> {
        let x = x.reshape([shape]);
        Vec::try_from(x).expect("a float tensor")
    };
    let f = (Kind::Float, Device::Cpu);
    let n = rows as i64;
    s.obs = match shape.grid {
        Some(_) => draw(obs_dim * n, Tensor::rand([n, obs_dim], f).round()),
        None => draw(obs_dim * n, Tensor::randn([n, obs_dim], f)),
    };
    s.actions = draw(n, Tensor::randint(actions, [n], f));
    s.log_probs = draw(n, Tensor::rand([n], f).clamp(0.05, 0.95).log());
    s.values = draw(n, Tensor::randn([n], f));
    s.advantages = draw(n, Tensor::randn([n], f));
    s.returns = draw(n, Tensor::randn([n], f));
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
