//! `polytask bench surgery`: the time of each gradient-surgery aggregator's `aggregate` on a
//! random `[T, P]` gradient matrix, against `sum` measured alternately in the same run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use polytask_agents::device::{resolve, DeviceRequest};
use polytask_agents::surgery::{self, Aggregator, GradMatrix, NAMES};
use tch::{Device, Kind, Tensor};

use crate::error::usage;

/// Arguments of `polytask bench surgery`.
#[derive(Debug, clap::Args)]
pub struct SurgeryArgs {
    /// Number of tasks T (rows of the gradient matrix).
    #[arg(long, default_value_t = 10)]
    pub tasks: i64,
    /// Number of shared parameters P (columns); 8320 is the CartPole-family network.
    #[arg(long, default_value_t = 8320)]
    pub params: i64,
    /// Device of the gradient matrix (`cpu`, `cuda`, `cuda:N` or `auto`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Least time, in milliseconds, of one measured run of a method.
    #[arg(long, default_value_t = 200)]
    pub min_ms: u64,
    /// Runs of each method (alternating with `sum`); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

/// Runs the benchmark and returns its report.
pub fn run(args: &SurgeryArgs) -> anyhow::Result<String> {
    if args.tasks <= 0 || args.params <= 0 || args.repeat == 0 {
        return Err(usage(
            "bench surgery: --tasks, --params and --repeat must be at least 1",
        ));
    }
    let request: DeviceRequest = args
        .device
        .parse()
        .map_err(|e| usage(format!("bench surgery: --device: {e}")))?;
    let device = resolve(request).map_err(usage)?;
    tch::manual_seed(0);
    let grads = Tensor::randn([args.tasks, args.params], (Kind::Float, device));
    let min = Duration::from_millis(args.min_ms);
    let mut sum = surgery::by_name("sum").map_err(usage)?;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "aggregate() on a random [{} × {}] f32 matrix, {:?}, {} intra-op threads",
        args.tasks,
        args.params,
        device,
        tch::get_num_threads()
    );
    for name in NAMES {
        let mut method = surgery::by_name(name).map_err(usage)?;
        let (mut base, mut with) = (Vec::new(), Vec::new());
        for _ in 0..args.repeat {
            base.push(time(sum.as_mut(), &grads, device, min));
            with.push(time(method.as_mut(), &grads, device, min));
        }
        let (base, with) = (median(base), median(with));
        let _ = writeln!(
            report,
            "  {name:<12} {:>10.1} µs/call  sum {:>10.1} µs  {:>6.2}× sum",
            with * 1e6,
            base * 1e6,
            with / base
        );
    }
    Ok(report)
}

/// Seconds per `aggregate` call, waiting for the result each time, over at least `min`.
fn time(method: &mut dyn Aggregator, grads: &Tensor, device: Device, min: Duration) -> f64 {
    let call = |m: &mut dyn Aggregator| {
        // A fresh matrix per call: the Gramian is part of the cost.
        let out = m.aggregate(&GradMatrix::from(grads));
        if let Device::Cuda(index) = device {
            tch::Cuda::synchronize(index as i64);
        }
        out
    };
    let _ = call(method);
    let start = Instant::now();
    let mut calls = 0u32;
    while calls < 3 || start.elapsed() < min {
        let _ = call(method);
        calls += 1;
    }
    start.elapsed().as_secs_f64() / calls as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
