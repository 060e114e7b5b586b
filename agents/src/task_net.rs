//! A multi-task MLP for off-policy learners: per-task input stems, a shared trunk and
//! per-task heads, as [`crate::actor_critic`]'s towers, with ReLU (Stable-Baselines3's and
//! CleanRL's SAC networks) and autograd for the backward pass.
//!
//! With `hidden = [h1, h2, …]` each task's stem is `Linear(in_t, h1) + ReLU`, the shared trunk
//! is `Linear(h1, h2) + ReLU, …`, and each task's head is `Linear(h_last, out_t)`; with one
//! task that is SB3's `net_arch = [h1, h2, …]`. Layers have PyTorch's default initialisation
//! (`nn.Linear`: Kaiming-uniform weights, uniform biases in ±1/√in), as SB3 and CleanRL's SAC.
//!
//! `copies` identical networks (a twin critic: `copies = 2`) live in one [`TaskNet`], so one
//! optimizer and one gradient matrix cover them all.
//!
//! Per-task gradients of the shared weights come from one backward pass: libtorch
//! differentiates `Σ_t L_t` with respect to each trunk layer's output `z = x Wᵀ + b` (not its
//! weights), and since `L_t` depends only on task `t`'s rows, `∂L_t/∂W = Σ_{rows r of t}
//! (∂L/∂z_r)ᵀ x_r` — one batched product over tasks per layer. Task-specific weights get
//! their gradient from the same pass.

use tch::{Kind, Tensor};

use crate::actor_critic::TaskGradients;

/// The shape of a [`TaskNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaskNetConfig {
    /// Each task's input width.
    pub inputs: Vec<i64>,
    /// Each task's output width.
    pub outputs: Vec<i64>,
    /// Hidden widths: the first is each task's stem, the rest the shared trunk.
    pub hidden: Vec<i64>,
    /// Identical networks held together (2 for a twin critic).
    pub copies: usize,
}

/// One layer's place in the flat buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    offset: i64,
    out: i64,
    inputs: i64,
}

impl Place {
    fn numel(&self) -> i64 {
        self.out * (self.inputs + 1)
    }
}

/// A layer viewing its part of the flat buffer.
#[derive(Debug)]
struct Layer {
    weight: Tensor,
    bias: Tensor,
}

impl Layer {
    fn view(flat: &Tensor, place: Place, trainable: bool) -> Self {
        let Place {
            offset,
            out,
            inputs,
        } = place;
        let leaf = |t: Tensor| t.detach().set_requires_grad(trainable);
        Self {
            weight: leaf(flat.narrow(0, offset, out * inputs).view([out, inputs])),
            bias: leaf(flat.narrow(0, offset + out * inputs, out)),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// The multi-task MLP (see the module documentation).
///
/// Parameters live in one flat buffer laid out `[trunk of copy 0 | trunk of copy 1 | … |
/// task 0's stems and heads (copy by copy) | task 1's | …]`, each layer's weight then bias.
#[derive(Debug)]
pub struct TaskNet {
    config: TaskNetConfig,
    flat: Tensor,
    shared_len: i64,
    /// `[copy][layer]`.
    trunk: Vec<Vec<Place>>,
    /// `[task][copy]`: the stem, then the head.
    own: Vec<Vec<[Place; 2]>>,
    /// Where each task's own parameters start, and the end of the last.
    own_offsets: Vec<i64>,
    trunk_layers: Vec<Vec<Layer>>,
    own_layers: Vec<Vec<[Layer; 2]>>,
}

/// What [`TaskNet::forward`] computed, kept for [`TaskNet::task_gradients`].
#[derive(Debug)]
pub struct TaskNetTrace {
    /// `outputs[copy][t]`: copy `copy`'s output `[B_t, out_t]` for task `t`.
    pub outputs: Vec<Vec<Tensor>>,
    /// `[copy][layer]`: each trunk layer's input, all tasks' rows.
    inputs: Vec<Vec<Tensor>>,
    /// `[copy][layer]`: each trunk layer's output before the activation.
    pre: Vec<Vec<Tensor>>,
    rows: Vec<i64>,
}

impl TaskNet {
    /// A freshly initialised network on `device` (seed libtorch first with `tch::manual_seed`
    /// for reproducible weights).
    ///
    /// # Panics
    /// If `hidden`, the tasks or the copies are empty, or `inputs` and `outputs` differ in
    /// length: the callers check their configs first.
    pub fn new(config: &TaskNetConfig, device: tch::Device) -> Self {
        assert!(
            !config.hidden.is_empty() && !config.inputs.is_empty() && config.copies > 0,
            "a network needs layers, tasks and copies"
        );
        assert_eq!(
            config.inputs.len(),
            config.outputs.len(),
            "one output per task"
        );
        let end = std::cell::Cell::new(0);
        let place = |inputs: i64, out: i64| {
            let p = Place {
                offset: end.get(),
                out,
                inputs,
            };
            end.set(p.offset + p.numel());
            p
        };
        let trunk: Vec<Vec<Place>> = (0..config.copies)
            .map(|_| {
                (config.hidden.windows(2))
                    .map(|w| place(w[0], w[1]))
                    .collect()
            })
            .collect();
        let shared_len = end.get();
        let last = *config.hidden.last().expect("hidden is not empty");
        let mut own_offsets = Vec::new();
        let own: Vec<Vec<[Place; 2]>> = (config.inputs.iter().zip(&config.outputs))
            .map(|(&inputs, &outputs)| {
                own_offsets.push(end.get());
                (0..config.copies)
                    .map(|_| [place(inputs, config.hidden[0]), place(last, outputs)])
                    .collect()
            })
            .collect();
        own_offsets.push(end.get());
        let flat = Tensor::zeros([end.get()], (Kind::Float, device));
        let mut net = Self {
            config: config.clone(),
            flat,
            shared_len,
            trunk,
            own,
            own_offsets,
            trunk_layers: Vec::new(),
            own_layers: Vec::new(),
        };
        net.initialise();
        net.bind(true);
        net
    }

    /// PyTorch's `nn.Linear` initialisation of every layer (`kaiming_uniform_` with `a = √5`
    /// for the weights, which is uniform in ±1/√in, and the same bound for the biases),
    /// drawn in layer order.
    fn initialise(&mut self) {
        let places: Vec<Place> = self.places().collect();
        tch::no_grad(|| {
            for p in places {
                let bound = 1.0 / (p.inputs as f64).sqrt();
                let _ = self
                    .flat
                    .narrow(0, p.offset, p.numel())
                    .uniform_(-bound, bound);
            }
        });
    }

    /// Every layer's place, in buffer order.
    fn places(&self) -> impl Iterator<Item = Place> + '_ {
        let own = self.own.iter().flatten().flatten().copied();
        self.trunk.iter().flatten().copied().chain(own)
    }

    /// Makes the layers view the flat buffer, as leaves that require gradients if `trainable`.
    fn bind(&mut self, trainable: bool) {
        let flat = &self.flat;
        self.trunk_layers = (self.trunk.iter())
            .map(|copy| {
                (copy.iter())
                    .map(|&p| Layer::view(flat, p, trainable))
                    .collect()
            })
            .collect();
        self.own_layers = (self.own.iter())
            .map(|task| {
                (task.iter())
                    .map(|[stem, head]| {
                        [
                            Layer::view(flat, *stem, trainable),
                            Layer::view(flat, *head, trainable),
                        ]
                    })
                    .collect()
            })
            .collect();
    }

    /// A copy with its own buffer whose parameters take no gradients: a target network.
    pub fn frozen_copy(&self) -> Self {
        let mut copy = Self {
            config: self.config.clone(),
            flat: self.flat.detach().copy(),
            shared_len: self.shared_len,
            trunk: self.trunk.clone(),
            own: self.own.clone(),
            own_offsets: self.own_offsets.clone(),
            trunk_layers: Vec::new(),
            own_layers: Vec::new(),
        };
        copy.bind(false);
        copy
    }

    /// The network's shape.
    pub fn config(&self) -> &TaskNetConfig {
        &self.config
    }

    /// The flat buffer holding every parameter; updating it in place (without gradient
    /// tracking) updates the network.
    pub fn flat_params(&self) -> &Tensor {
        &self.flat
    }

    /// Number of shared parameters `P` (columns of the per-task gradient matrix).
    pub fn shared_len(&self) -> i64 {
        self.shared_len
    }

    /// Every parameter with a stable name (`copy{c}.trunk{l}.weight`,
    /// `task{t}.copy{c}.stem.bias`, …), in the flat buffer's order.
    pub fn named_params(&self) -> Vec<(String, &Tensor)> {
        let mut named = Vec::new();
        for (c, copy) in self.trunk_layers.iter().enumerate() {
            for (l, layer) in copy.iter().enumerate() {
                named.push((format!("copy{c}.trunk{l}.weight"), &layer.weight));
                named.push((format!("copy{c}.trunk{l}.bias"), &layer.bias));
            }
        }
        for (t, task) in self.own_layers.iter().enumerate() {
            for (c, [stem, head]) in task.iter().enumerate() {
                for (part, layer) in [("stem", stem), ("head", head)] {
                    named.push((format!("task{t}.copy{c}.{part}.weight"), &layer.weight));
                    named.push((format!("task{t}.copy{c}.{part}.bias"), &layer.bias));
                }
            }
        }
        named
    }

    /// Runs every copy on one input batch per task (`x[t]` is `[B_t, inputs[t]]`), keeping
    /// what [`TaskNet::task_gradients`] needs. With gradient tracking on, the outputs carry
    /// libtorch's graph back to the parameters and to the inputs.
    pub fn forward(&self, x: &[Tensor]) -> TaskNetTrace {
        let rows: Vec<i64> = x.iter().map(|x| x.size()[0]).collect();
        let copies = self.trunk_layers.len();
        let mut trace = TaskNetTrace {
            outputs: Vec::with_capacity(copies),
            inputs: Vec::with_capacity(copies),
            pre: Vec::with_capacity(copies),
            rows,
        };
        for c in 0..copies {
            let stems: Vec<Tensor> = (x.iter().zip(&self.own_layers))
                .map(|(x, layers)| layers[c][0].forward(x).relu())
                .collect();
            let mut h = match stems.len() {
                1 => stems[0].shallow_clone(),
                _ => Tensor::cat(&stems, 0),
            };
            let (mut inputs, mut pre) = (Vec::new(), Vec::new());
            for layer in &self.trunk_layers[c] {
                let z = layer.forward(&h);
                inputs.push(std::mem::replace(&mut h, z.relu()));
                pre.push(z);
            }
            let parts = h.split_with_sizes(&trace.rows, 0);
            let outputs = (parts.iter().zip(&self.own_layers))
                .map(|(h, layers)| layers[c][1].forward(h))
                .collect();
            trace.outputs.push(outputs);
            trace.inputs.push(inputs);
            trace.pre.push(pre);
        }
        trace
    }

    /// The per-task gradients of `total = Σ_t L_t`, built (with gradient tracking) from
    /// `trace`, where `L_t` reaches only task `t`'s rows of `trace`: row `t` of `shared` is
    /// `∂L_t/∂θ_shared`, `own[t]` is `∂L_t/∂θ_t`. Other networks that `total` reaches (a
    /// critic under an actor's loss) are differentiated through, never accumulated into.
    pub fn task_gradients(
        &self,
        total: &Tensor,
        trace: &TaskNetTrace,
    ) -> Result<TaskGradients, tch::TchError> {
        let pre: Vec<&Tensor> = trace.pre.iter().flatten().collect();
        let own: Vec<&Tensor> = (self.own_layers.iter().flatten().flatten())
            .flat_map(|l| [&l.weight, &l.bias])
            .collect();
        let inputs: Vec<&Tensor> = pre.iter().chain(&own).copied().collect();
        let grads = Tensor::f_run_backward(&[total], &inputs, false, false)?;
        let float = (Kind::Float, self.flat.device());
        let tasks = trace.rows.len() as i64;
        let flat = Tensor::zeros([self.flat.numel() as i64], float);
        let shared = Tensor::zeros([tasks, self.shared_len], float);
        tch::no_grad(|| {
            let trunk_inputs = trace.inputs.iter().flatten();
            let places = self.trunk.iter().flatten();
            for ((x, dz), place) in trunk_inputs.zip(&grads).zip(places) {
                if dz.defined() {
                    self.write_layer_grads(&shared, x, dz, *place, &trace.rows);
                }
            }
            let mut offset = self.shared_len;
            for (p, g) in own.iter().zip(&grads[pre.len()..]) {
                let n = p.numel() as i64;
                if g.defined() {
                    flat.narrow(0, offset, n).copy_(&g.reshape([-1]));
                }
                offset += n;
            }
        });
        let own = (self.own_offsets.windows(2))
            .map(|w| flat.narrow(0, w[0], w[1] - w[0]))
            .collect();
        Ok(TaskGradients { shared, own, flat })
    }

    /// Writes each task's gradient of one trunk layer into its row of `shared`: `x` `[B, in]`
    /// is the layer's input, `dz` `[B, out]` the gradient at its output.
    fn write_layer_grads(
        &self,
        shared: &Tensor,
        x: &Tensor,
        dz: &Tensor,
        place: Place,
        rows: &[i64],
    ) {
        let Place {
            offset,
            out,
            inputs,
        } = place;
        let tasks = rows.len() as i64;
        let mut weight = shared.narrow(1, offset, out * inputs);
        let mut bias = shared.narrow(1, offset + out * inputs, out);
        if rows.iter().all(|&r| r == rows[0]) {
            // Equal rows (an off-policy minibatch): one batched product.
            let dz = dz.view([tasks, rows[0], out]);
            let x = x.view([tasks, rows[0], inputs]);
            weight.copy_(&dz.transpose(1, 2).bmm(&x).view([tasks, out * inputs]));
            bias.copy_(&dz.sum_dim_intlist(1, false, Kind::Float));
        } else {
            let (dzs, xs) = (dz.split_with_sizes(rows, 0), x.split_with_sizes(rows, 0));
            for (t, (dz, x)) in dzs.iter().zip(&xs).enumerate() {
                let t = t as i64;
                weight.get(t).copy_(&dz.tr().mm(x).view([-1]));
                bias.get(t)
                    .copy_(&dz.sum_dim_intlist(0, false, Kind::Float));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(rows: &[i64], hidden: &[i64], copies: usize) -> (TaskNet, Vec<Tensor>) {
        tch::manual_seed(3);
        let inputs = [3, 5, 2];
        let config = TaskNetConfig {
            inputs: inputs[..rows.len()].to_vec(),
            outputs: [2, 1, 4][..rows.len()].to_vec(),
            hidden: hidden.to_vec(),
            copies,
        };
        let net = TaskNet::new(&config, tch::Device::Cpu);
        let x = (rows.iter().zip(inputs))
            .map(|(&r, i)| Tensor::randn([r, i], (Kind::Float, tch::Device::Cpu)))
            .collect();
        (net, x)
    }

    /// Task `t`'s loss: a fixed linear and quadratic function of every copy's output.
    fn loss(trace: &TaskNetTrace, t: usize) -> Tensor {
        (trace.outputs.iter().enumerate())
            .map(|(c, out)| {
                let out = &out[t];
                // Fixed weights, the same on every call (no shared random generator).
                let phase = (10 * t + c) as f64;
                let k = Tensor::arange(out.numel() as i64, (Kind::Float, out.device()));
                let w = (k * 0.37 + phase).sin().view_as(out);
                (out * &w).sum(Kind::Float) + out.square().mean(Kind::Float) * (t + 1) as f64
            })
            .fold(Tensor::from(0f32), |a, b| a + b)
    }

    /// `∂L_t/∂` every parameter by autograd on `L_t` alone, flattened in buffer order.
    fn separate(net: &TaskNet, x: &[Tensor], t: usize) -> Tensor {
        let trace = net.forward(x);
        let params: Vec<&Tensor> = net.named_params().into_iter().map(|(_, p)| p).collect();
        let grads = Tensor::run_backward(&[loss(&trace, t)], &params, false, true);
        let flat: Vec<Tensor> = (grads.iter().zip(&params))
            .map(|(g, p)| match g.defined() {
                true => g.reshape([-1]),
                false => p.zeros_like().reshape([-1]),
            })
            .collect();
        Tensor::cat(&flat, 0)
    }

    fn check(rows: &[i64], hidden: &[i64], copies: usize) {
        let (net, x) = net(rows, hidden, copies);
        let trace = net.forward(&x);
        let losses: Vec<Tensor> = (0..rows.len()).map(|t| loss(&trace, t)).collect();
        let total = Tensor::stack(&losses, 0).sum(Kind::Float);
        let grads = net.task_gradients(&total, &trace).unwrap();
        let p = net.shared_len();
        assert_eq!(grads.shared.size(), [rows.len() as i64, p]);
        assert_eq!(p > 0, hidden.len() > 1);
        for t in 0..rows.len() {
            let expected = separate(&net, &x, t);
            if p > 0 {
                let shared = expected.narrow(0, 0, p);
                let diff = (&grads.shared.get(t as i64) - &shared).abs().max();
                assert!(diff.double_value(&[]) < 1e-5, "task {t} shared: {diff}");
            }
            let (start, end) = (net.own_offsets[t], net.own_offsets[t + 1]);
            let own = expected.narrow(0, start, end - start);
            assert!(own.abs().sum(Kind::Float).double_value(&[]) > 0.0);
            let diff = (&grads.own[t] - &own).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "task {t} own: {diff}");
        }
    }

    #[test]
    fn one_backward_pass_gives_each_tasks_gradient() {
        check(&[4, 6, 5], &[8, 6, 5], 2);
        check(&[4, 4, 4], &[8, 6, 5], 2);
        check(&[7, 3], &[6, 4], 1);
        check(&[5], &[6, 4, 4], 1);
        check(&[4, 4], &[6], 2);
    }

    #[test]
    fn networks_the_loss_passes_through_get_no_gradient() {
        let (actor, x) = net(&[4, 4], &[6, 5], 1);
        let (critic, _) = net(&[4, 4], &[6, 5], 2);
        let trace = actor.forward(&x);
        // The "critic" sees the actor's outputs (as SAC's actor loss does).
        let inputs: Vec<Tensor> = (trace.outputs[0].iter().zip(&x))
            .map(|(a, x)| Tensor::cat(&[x.narrow(1, 0, 1), a.narrow(1, 0, 1)], 1))
            .collect();
        let small = TaskNetConfig {
            inputs: vec![2, 2],
            ..critic.config().clone()
        };
        let critic = TaskNet::new(&small, tch::Device::Cpu);
        let q = critic.forward(&inputs);
        let total = (q.outputs[0][0].sum(Kind::Float) + q.outputs[1][1].sum(Kind::Float)) * 1.0;
        let grads = actor.task_gradients(&total, &trace).unwrap();
        assert!(grads.shared.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        let critic_params = critic.named_params();
        assert!(!critic_params.is_empty());
        for (name, p) in critic_params {
            assert!(!p.grad().defined(), "{name} got a gradient");
        }
    }

    #[test]
    fn a_frozen_copy_holds_the_same_weights_in_its_own_buffer() {
        let (net, x) = net(&[3, 2], &[6, 5], 2);
        let copy = net.frozen_copy();
        let (a, b) = (net.forward(&x), copy.forward(&x));
        assert!(a.outputs[1][1].equal(&b.outputs[1][1]));
        assert!(!b.outputs[1][1].requires_grad());
        let _ = tch::no_grad(|| net.flat_params().shallow_clone().fill_(0.0));
        assert!(copy.flat_params().abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }

    #[test]
    fn layers_start_as_pytorchs_default_linear() {
        // nn.Linear: weights and biases uniform in ±1/√in.
        let (net, _) = net(&[2], &[64, 64], 1);
        let named = net.named_params();
        assert!(!named.is_empty());
        for (name, p) in named {
            let inputs = match name.as_str() {
                n if n.contains("stem") => 3.0,
                _ => 64.0,
            };
            let bound = 1.0 / f64::sqrt(inputs);
            let max = p.abs().max().double_value(&[]);
            assert!(
                max <= bound + 1e-6 && max > 0.5 * bound,
                "{name}: {max} vs {bound}"
            );
        }
    }
}
