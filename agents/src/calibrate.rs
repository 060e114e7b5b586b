//! Times each of the towers' CPU kernels (see [`crate::kernels`]) both ways — libtorch's
//! operation and the host loop — on tensors of a network's shapes, and picks the clearly
//! faster of each: what `kernels = "auto"` runs once per machine and shape.
//!
//! Each round times one call of every kernel in both forms, alternating which goes first;
//! the minimum over the rounds is kept, which is what the kernel costs when nothing else
//! disturbs it (noise only adds time). A host kernel is chosen only when libtorch's minimum
//! is at least [`MARGIN`] times its own: near-ties keep libtorch's kernel, so that timing
//! noise does not flip the choice from one calibration (or machine of a kind) to the next.

use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};

use crate::kernels::{Backend, Kernel, KernelChoice};
use crate::stacked_linear::{self, StackedLinear};
use crate::tower::{self, Slots, TrunkGrads};

/// The shapes a calibration times: `towers` stacked layers `inputs → out` on `rows[t]` rows
/// of each task `t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerShapes {
    /// Stacked towers (2 for separate actor and critic, 1 with a shared critic).
    pub towers: i64,
    /// Rows of each task in one minibatch.
    pub rows: Vec<i64>,
    /// Inputs of the layer.
    pub inputs: i64,
    /// Outputs of the layer.
    pub out: i64,
}

/// How much slower libtorch's kernel must be than the host loop for the host loop to be
/// chosen.
pub const MARGIN: f64 = 1.15;

/// One kernel's fastest call in each form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelTiming {
    /// Which kernel.
    pub kernel: Kernel,
    /// The host loop's fastest call.
    pub host: Duration,
    /// libtorch's fastest call.
    pub libtorch: Duration,
}

impl KernelTiming {
    /// The form to run: the host loop where libtorch's takes at least [`MARGIN`] times as
    /// long, else libtorch's.
    pub fn faster(&self) -> Backend {
        match self.libtorch.as_secs_f64() >= MARGIN * self.host.as_secs_f64() {
            true => Backend::Host,
            false => Backend::Libtorch,
        }
    }
}

/// Every kernel's timing, in [`Kernel::ALL`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// One per kernel.
    pub timings: Vec<KernelTiming>,
}

impl Calibration {
    /// Each kernel's form by [`KernelTiming::faster`].
    pub fn choice(&self) -> KernelChoice {
        let mut choice = KernelChoice::default();
        for t in &self.timings {
            choice.set(t.kernel, t.faster());
        }
        choice
    }
}

/// The tensors one layer's kernels read and write.
struct Bench {
    layer: StackedLinear,
    shapes: LayerShapes,
    x: Tensor,
    z: Tensor,
    dz: Tensor,
    /// The gradient before the tanh `[k, B, out]`, and at the input `[k, B, in]`.
    dz_before: Tensor,
    dx: Tensor,
    grads: Tensor,
}

/// A tensor of `shape` with values spread over `[-scale, scale]`, drawn from no random
/// generator: a calibration must not move libtorch's global stream, which seeds the network.
fn spread(shape: &[i64], scale: f64) -> Tensor {
    let n: i64 = shape.iter().product();
    let f = (Kind::Float, Device::Cpu);
    (Tensor::arange(n, f) * 0.7).sin().view(shape) * scale
}

impl Bench {
    fn new(shapes: &LayerShapes) -> Self {
        let f = (Kind::Float, Device::Cpu);
        let (k, out, inputs) = (shapes.towers, shapes.out, shapes.inputs);
        let batch: i64 = shapes.rows.iter().sum();
        let stride = out * inputs + out;
        let flat = spread(&[k * stride], 0.1);
        let tasks = shapes.rows.len() as i64;
        Self {
            layer: StackedLinear::view(&flat, k, [out, inputs], 0, stride),
            shapes: shapes.clone(),
            x: spread(&[k, batch, inputs], 1.0),
            z: spread(&[k, batch, out], 2.0),
            dz: spread(&[k, batch, out], 1.0),
            dz_before: Tensor::empty([k, batch, out], f),
            dx: Tensor::empty([k, batch, inputs], f),
            grads: Tensor::empty([tasks, k * stride], f),
        }
    }

    /// One call of `kernel` computed by `backend`.
    fn run(&mut self, kernel: Kernel, backend: Backend) {
        match kernel {
            Kernel::Tanh => stacked_linear::tanh_(&mut self.z, backend),
            Kernel::TanhBackward => {
                stacked_linear::tanh_backward(&self.dz_before, &self.dz, &self.z, backend)
            }
            Kernel::Linear => drop(self.layer.product(&self.x, false, backend)),
            Kernel::WeightGrad => self.weight_grads(backend),
            Kernel::InputGrad => self.layer.input_grads(&self.dz, &self.dx, backend),
        }
    }

    fn weight_grads(&self, backend: Backend) {
        let LayerShapes {
            towers,
            rows,
            inputs,
            out,
        } = &self.shapes;
        let slots = Slots {
            buffer: &self.grads,
            towers: *towers,
            offset: 0,
            tower_stride: out * inputs + out,
            task_stride: self.grads.size()[1],
        };
        let views = slots.views([*out, *inputs], rows);
        let grads = TrunkGrads {
            views: &views,
            buffer: &self.grads,
            place: slots.placement(),
        };
        tower::per_task_linear_grads(&self.dz, &self.x, rows, grads, backend);
    }
}

/// Times every kernel at `shapes` over `rounds` rounds (plus one warm-up round), on the CPU
/// with libtorch's current thread count.
pub fn calibrate(shapes: &LayerShapes, rounds: usize) -> Calibration {
    let mut bench = tch::no_grad(|| Bench::new(shapes));
    let mut best = [[Duration::MAX; 2]; Kernel::ALL.len()];
    tch::no_grad(|| {
        for round in 0..=rounds {
            for (k, &kernel) in Kernel::ALL.iter().enumerate() {
                let order = match round % 2 {
                    0 => [Backend::Host, Backend::Libtorch],
                    _ => [Backend::Libtorch, Backend::Host],
                };
                for backend in order {
                    let start = Instant::now();
                    bench.run(kernel, backend);
                    let elapsed = start.elapsed();
                    let slot = &mut best[k][(backend == Backend::Libtorch) as usize];
                    if round > 0 {
                        *slot = (*slot).min(elapsed);
                    }
                }
            }
        }
    });
    let timings = (Kernel::ALL.iter().zip(best))
        .map(|(&kernel, [host, libtorch])| KernelTiming {
            kernel,
            host,
            libtorch,
        })
        .collect();
    Calibration { timings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibration_times_every_kernel_both_ways_and_picks_the_clearly_faster() {
        let shapes = LayerShapes {
            towers: 2,
            rows: vec![8, 8],
            inputs: 5,
            out: 16,
        };
        let calibration = calibrate(&shapes, 3);
        assert_eq!(calibration.timings.len(), Kernel::ALL.len());
        let choice = calibration.choice();
        for t in &calibration.timings {
            assert!(t.host > Duration::ZERO && t.libtorch > Duration::ZERO);
            assert!(t.host < Duration::MAX && t.libtorch < Duration::MAX);
            let clearly = t.libtorch.as_secs_f64() >= MARGIN * t.host.as_secs_f64();
            let expected = if clearly {
                Backend::Host
            } else {
                Backend::Libtorch
            };
            assert_eq!(choice.get(t.kernel), expected);
        }
    }
}
