//! `polytask bench kernels`: each of the learner's CPU kernels (see
//! `polytask_agents::kernels`) timed as the host loop and as libtorch's operation at one
//! layer's shapes, in the same run ([`polytask_agents::calibrate`], with more rounds than a
//! run's calibration), and which form `kernels = "auto"` would pick from these timings.

use std::fmt::Write as _;

use polytask_agents::calibrate::{calibrate, LayerShapes};

use crate::error::usage;

/// Arguments of `polytask bench kernels`.
#[derive(Debug, clap::Args)]
pub struct KernelsArgs {
    /// Rows per task in the minibatch.
    #[arg(long, default_value_t = 256)]
    pub rows: i64,
    /// Tasks (each with `--rows` rows).
    #[arg(long, default_value_t = 1)]
    pub tasks: usize,
    /// The layer's inputs and outputs.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub layer: Vec<i64>,
    /// Towers stacked (2: separate actor and critic; 1: shared critic).
    #[arg(long, default_value_t = 2)]
    pub towers: i64,
    /// Rounds; each kernel's fastest call of each form is reported.
    #[arg(long, default_value_t = 2000)]
    pub rounds: usize,
}

/// Runs the benchmark and returns its report.
pub fn run(args: &KernelsArgs) -> anyhow::Result<String> {
    let [inputs, out] = args.layer[..] else {
        return Err(usage(
            "bench kernels: --layer takes two widths, INPUTS,OUTPUTS",
        ));
    };
    if args.rows < 1 || args.tasks == 0 || inputs < 1 || out < 1 || args.rounds == 0 {
        return Err(usage(
            "bench kernels: --rows, --tasks, --layer and --rounds must be at least 1",
        ));
    }
    if !(1..=2).contains(&args.towers) {
        return Err(usage("bench kernels: --towers is 1 or 2"));
    }
    tch::set_num_threads(1);
    let shapes = LayerShapes {
        towers: args.towers,
        rows: vec![args.rows; args.tasks],
        inputs,
        out,
    };
    let calibration = calibrate(&shapes, args.rounds);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "learner kernels, {} towers × {} rows ({} tasks), layer {inputs}→{out}, 1 thread, {}",
        args.towers,
        args.rows * args.tasks as i64,
        args.tasks,
        crate::cpu::model()
    );
    let _ = writeln!(
        report,
        "  {:<14} {:>9} {:>12} {:>15} {:>9}",
        "kernel", "host µs", "libtorch µs", "libtorch/host", "chosen"
    );
    for t in &calibration.timings {
        let (host, libtorch) = (t.host.as_secs_f64(), t.libtorch.as_secs_f64());
        let _ = writeln!(
            report,
            "  {:<14} {:>9.2} {:>12.2} {:>14.2}× {:>9}",
            t.kernel.name(),
            host * 1e6,
            libtorch * 1e6,
            libtorch / host,
            t.faster().name()
        );
    }
    Ok(report)
}
