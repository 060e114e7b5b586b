//! The machine's limit for training a configuration: the steps/s it would reach if an
//! environment step cost nothing but the matrix products of the network — the rollout's
//! forward pass, and each epoch's forward and backward passes over the step's sample — each
//! timed alone as one libtorch `mm` on as many threads as the trainer's learner uses. Convolutions count as the products of
//! their patches (im2col), as the learner runs them.
//!
//! Only products are timed: activations, losses, the optimizer, environments and copies are
//! left out, so real training stays below the limit.
//!
//! For SAC ([`measure_sac`]) a step is the rollout's actor pass on one row plus
//! `gradient_steps / train_freq` updates, each the products of [`polytask_agents::sac`]'s five
//! stages on a minibatch of the first task's `batch_size` rows.

use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};

use crate::config::Config;

/// A product `[m, k] × [k, n]`.
type Product = [i64; 3];

/// The products one forward and one backward pass cost on `rows` samples of `config`'s first
/// task, with `actions` policy outputs: `(forward, backward)`.
fn products(config: &Config, actions: i64, rows: i64) -> (Vec<Product>, Vec<Product>) {
    let task = &config.tasks[0];
    let (mut forward, mut backward) = (Vec::new(), Vec::new());
    let image = crate::config::image_grid(task).zip(config.network.conv.to_conv());
    let mut widths: Vec<i64> = Vec::new();
    if let Some((grid, conv)) = image {
        let positions = conv.features(grid).expect("a checked kernel fits") / conv.filters;
        let patch = grid.channels * conv.kernel_size * conv.kernel_size;
        forward.push([rows * positions, patch, conv.filters]);
        // The convolution's weight gradient; its input needs none.
        backward.push([conv.filters, rows * positions, patch]);
        widths.push(conv.filters * positions);
    } else {
        widths.push(task.obs_shape.iter().product::<usize>() as i64);
    }
    widths.extend(&config.network.hidden);
    let towers = if config.network.shared_critic { 1 } else { 2 };
    for _ in 0..towers {
        for (i, w) in widths.windows(2).enumerate() {
            let (inputs, out) = (w[0], w[1]);
            forward.push([rows, inputs, out]);
            backward.push([out, rows, inputs]);
            // A stem's input needs no gradient, a layer after a convolution does.
            if i > 0 || image.is_some() {
                backward.push([rows, out, inputs]);
            }
        }
    }
    let last = *widths.last().expect("a width");
    // The policy head, and the value head (on the same features with a shared critic).
    for outputs in [actions, 1] {
        forward.push([rows, last, outputs]);
        backward.push([outputs, rows, last]);
        backward.push([rows, outputs, last]);
    }
    (forward, backward)
}

/// The median time of `product` over `rounds`, after one warm-up.
fn time(product: Product, rounds: usize) -> Duration {
    let f = (Kind::Float, Device::Cpu);
    let [m, k, n] = product;
    let (a, b) = (Tensor::randn([m, k], f), Tensor::randn([k, n], f));
    let out = Tensor::empty([m, n], f);
    let _ = a.mm_out(&out, &b);
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let _ = a.mm_out(&out, &b);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// The limit of one configuration (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Steps per second if steps cost their products alone.
    pub sps: f64,
    /// Multiply-adds per environment step.
    pub macs_per_step: f64,
    /// The products' measured speed, in billions of multiply-adds per second.
    pub gmacs: f64,
}

/// Seconds and multiply-adds of `products`, each timed alone (median of 50 rounds).
fn total(products: &[Product]) -> (f64, f64) {
    let seconds = products.iter().map(|&p| time(p, 50).as_secs_f64()).sum();
    let macs = products.iter().map(|p| (p[0] * p[1] * p[2]) as f64).sum();
    (seconds, macs)
}

impl Limit {
    /// The limit of a step whose products take `seconds` and count `macs` multiply-adds.
    fn of_step(seconds: f64, macs: f64) -> Self {
        Self {
            sps: 1.0 / seconds,
            macs_per_step: macs,
            gmacs: macs / seconds / 1e9,
        }
    }
}

/// Times the products of `config`'s training of its first task, with `actions` policy
/// outputs, on the learner's threads ([`crate::train::learner_threads`]); also returns them.
pub fn measure(config: &Config, actions: i64) -> (Limit, usize) {
    let threads = crate::train::learner_threads(config);
    tch::set_num_threads(threads as i32);
    let alg = &config.algorithm;
    let envs = config.tasks[0].num_envs as i64;
    let minibatch = envs * alg.num_steps as i64 / alg.num_minibatches as i64;
    let (rollout, _) = products(config, actions, envs);
    let (forward, backward) = products(config, actions, minibatch);
    let (rollout_time, rollout_macs) = total(&rollout);
    let (forward_time, forward_macs) = total(&forward);
    let (backward_time, backward_macs) = total(&backward);
    let epochs = alg.update_epochs as f64;
    let per_step =
        rollout_time / envs as f64 + epochs * (forward_time + backward_time) / minibatch as f64;
    let macs_per_step =
        rollout_macs / envs as f64 + epochs * (forward_macs + backward_macs) / minibatch as f64;
    tch::set_num_threads(1);
    (Limit::of_step(per_step, macs_per_step), threads)
}

/// The products of one SAC environment step of `config`'s first task with `actions` action
/// dimensions: the rollout's actor pass on one row, then the update's (see
/// [`polytask_agents::sac`]): the actor on the observations and on the next observations,
/// the target critic's two copies, the critic's forward and backward passes (no input
/// gradient of its first layer), the critic again on the sampled actions with its input
/// gradients down to the actions, and the actor's backward pass.
fn sac_products(config: &Config, actions: i64) -> (Vec<Product>, Vec<Product>) {
    let section = config.sac_section();
    let rows = section.batch_size as i64;
    let obs = config.tasks[0].obs_shape.iter().product::<usize>() as i64;
    let hidden = &config.network.hidden;
    let widths = |input: i64, output: i64| -> Vec<i64> {
        let middle = hidden.iter().copied();
        std::iter::once(input)
            .chain(middle)
            .chain([output])
            .collect()
    };
    let (actor, critic) = (widths(obs, 2 * actions), widths(obs + actions, 1));
    let forward = |widths: &[i64], rows: i64| -> Vec<Product> {
        widths.windows(2).map(|w| [rows, w[0], w[1]]).collect()
    };
    let weight_grads = |widths: &[i64]| -> Vec<Product> {
        widths.windows(2).map(|w| [w[1], rows, w[0]]).collect()
    };
    let input_grads = |widths: &[i64], first: bool| -> Vec<Product> {
        let skip = usize::from(!first);
        (widths.windows(2).skip(skip))
            .map(|w| [rows, w[1], w[0]])
            .collect()
    };
    let rollout = forward(&actor, 1);
    let mut update = Vec::new();
    // The actor on s and on s′; the target critic's and the critic's two copies.
    update.extend(forward(&actor, rows).repeat(2));
    update.extend(forward(&critic, rows).repeat(4));
    update.extend(weight_grads(&critic).repeat(2));
    update.extend(input_grads(&critic, false).repeat(2));
    // The actor's stage: both critic copies on (s, ã), their input gradients down to ã.
    update.extend(forward(&critic, rows).repeat(2));
    update.extend(input_grads(&critic, true).repeat(2));
    update.extend(weight_grads(&actor));
    update.extend(input_grads(&actor, false));
    (rollout, update)
}

/// The limit of `config`'s SAC training of its first task (see the module documentation),
/// with `actions` action dimensions, on the learner's threads; also returns them.
pub fn measure_sac(config: &Config, actions: i64) -> (Limit, usize) {
    let threads = crate::train::learner_threads(config);
    tch::set_num_threads(threads as i32);
    let section = config.sac_section();
    let updates = section.gradient_steps as f64 / section.train_freq as f64;
    let (rollout, update) = sac_products(config, actions);
    let (rollout_time, rollout_macs) = total(&rollout);
    let (update_time, update_macs) = total(&update);
    let per_step = rollout_time + updates * update_time;
    let macs_per_step = rollout_macs + updates * update_macs;
    tch::set_num_threads(1);
    (Limit::of_step(per_step, macs_per_step), threads)
}
