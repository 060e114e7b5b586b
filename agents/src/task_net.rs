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
//! optimizer and one gradient matrix cover them all. Each layer of the copies runs as one
//! batched product (`baddbmm` over weights stacked `[copies, out, in]`, strided views of the
//! flat buffer): one operation where SB3 runs one per copy, and on several threads the
//! copies' products run side by side.
//!
//! Per-task gradients of the shared weights come from one backward pass: libtorch
//! differentiates `Σ_t L_t` with respect to each trunk layer's output `z = x Wᵀ + b` (not its
//! weights), and since `L_t` depends only on task `t`'s rows, `∂L_t/∂W = Σ_{rows r of t}
//! (∂L/∂z_r)ᵀ x_r` — one batched product over tasks per layer and copy, written straight into
//! the gradient matrix. Its multiply-adds are those of the weight gradient one ordinary
//! backward pass computes; task-specific weights get their gradient from the same pass.

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

/// One layer's place in the flat buffer, for all copies: copy `c`'s weight `[out, inputs]`
/// starts at `offset + c · stride`, its bias follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    offset: i64,
    stride: i64,
    out: i64,
    inputs: i64,
}

impl Place {
    /// Elements of one copy's weight and bias.
    fn numel(&self) -> i64 {
        self.out * (self.inputs + 1)
    }

    /// The stacked weights `[copies, out, inputs]` of `buffer` laid out as the flat buffer,
    /// shifted by `shift` elements (a row of the gradient matrix).
    fn weight(&self, buffer: &Tensor, copies: i64, shift: i64) -> Tensor {
        let size = [copies, self.out, self.inputs];
        buffer.as_strided(size, [self.stride, self.inputs, 1], self.offset + shift)
    }

    /// The stacked biases `[copies, 1, out]` (see [`Place::weight`]).
    fn bias(&self, buffer: &Tensor, copies: i64, shift: i64) -> Tensor {
        let offset = self.offset + self.out * self.inputs + shift;
        buffer.as_strided([copies, 1, self.out], [self.stride, self.out, 1], offset)
    }
}

/// A layer of every copy, viewing its part of the flat buffer: weights `[copies, out, in]`,
/// biases `[copies, 1, out]`.
#[derive(Debug)]
struct Layer {
    weight: Tensor,
    bias: Tensor,
}

impl Layer {
    fn view(flat: &Tensor, place: Place, copies: i64, trainable: bool) -> Self {
        let leaf = |t: Tensor| t.detach().set_requires_grad(trainable);
        Self {
            weight: leaf(place.weight(flat, copies, 0)),
            bias: leaf(place.bias(flat, copies, 0)),
        }
    }

    /// `x Wᵀ + b` per copy: `x` is `[copies, B, in]`, or `[B, in]` for all copies.
    fn forward(&self, x: &Tensor) -> Tensor {
        let copies = self.weight.size()[0];
        let x = match x.dim() {
            2 => x.unsqueeze(0).expand([copies, -1, -1], false),
            _ => x.shallow_clone(),
        };
        self.bias
            .baddbmm(&x, &self.weight.transpose(1, 2), 1.0, 1.0)
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
    /// Each trunk layer, for every copy.
    trunk: Vec<Place>,
    /// `[task]`: the stem, then the head, for every copy.
    own: Vec<[Place; 2]>,
    /// Where each task's own parameters start, and the end of the last.
    own_offsets: Vec<i64>,
    trunk_layers: Vec<Layer>,
    own_layers: Vec<[Layer; 2]>,
}

/// What [`TaskNet::forward`] computed, kept for [`TaskNet::task_gradients`].
#[derive(Debug)]
pub struct TaskNetTrace {
    /// `outputs[copy][t]`: copy `copy`'s output `[B_t, out_t]` for task `t`.
    pub outputs: Vec<Vec<Tensor>>,
    /// Each trunk layer's input `[copies, ΣB, in]`, all tasks' rows.
    inputs: Vec<Tensor>,
    /// Each trunk layer's output before the activation `[copies, ΣB, out]`.
    pre: Vec<Tensor>,
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
        let copies = config.copies as i64;
        let place = |offset: i64, stride: i64, inputs: i64, out: i64| Place {
            offset,
            stride,
            out,
            inputs,
        };
        // One copy's trunk, then the copies one after another.
        let mut trunk = Vec::new();
        let mut end = 0;
        let trunk_len: i64 = (config.hidden.windows(2))
            .map(|w| place(0, 0, w[0], w[1]).numel())
            .sum();
        for w in config.hidden.windows(2) {
            let p = place(end, trunk_len, w[0], w[1]);
            end += p.numel();
            trunk.push(p);
        }
        let shared_len = trunk_len * copies;
        let last = *config.hidden.last().expect("hidden is not empty");
        let mut own_offsets = Vec::new();
        let mut end = shared_len;
        let own: Vec<[Place; 2]> = (config.inputs.iter().zip(&config.outputs))
            .map(|(&inputs, &outputs)| {
                own_offsets.push(end);
                let stem_len = place(0, 0, inputs, config.hidden[0]).numel();
                let stride = stem_len + place(0, 0, last, outputs).numel();
                let stem = place(end, stride, inputs, config.hidden[0]);
                let head = place(end + stem_len, stride, last, outputs);
                end += stride * copies;
                [stem, head]
            })
            .collect();
        own_offsets.push(end);
        let flat = Tensor::zeros([end], (Kind::Float, device));
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
    /// drawn in buffer order.
    fn initialise(&mut self) {
        let mut places: Vec<(i64, i64, i64)> = (self.places())
            .flat_map(|p| {
                (0..self.copies()).map(move |c| (p.offset + c * p.stride, p.numel(), p.inputs))
            })
            .collect();
        places.sort_unstable();
        tch::no_grad(|| {
            for (offset, numel, inputs) in places {
                let bound = 1.0 / (inputs as f64).sqrt();
                let _ = self.flat.narrow(0, offset, numel).uniform_(-bound, bound);
            }
        });
    }

    fn copies(&self) -> i64 {
        self.config.copies as i64
    }

    /// Every layer's place: the trunk's, then each task's stem and head.
    fn places(&self) -> impl Iterator<Item = Place> + '_ {
        let own = self.own.iter().flatten().copied();
        self.trunk.iter().copied().chain(own)
    }

    /// Makes the layers view the flat buffer, as leaves that require gradients if `trainable`.
    fn bind(&mut self, trainable: bool) {
        let (flat, copies) = (&self.flat, self.copies());
        self.trunk_layers = (self.trunk.iter())
            .map(|&p| Layer::view(flat, p, copies, trainable))
            .collect();
        self.own_layers = (self.own.iter())
            .map(|[stem, head]| {
                [
                    Layer::view(flat, *stem, copies, trainable),
                    Layer::view(flat, *head, copies, trainable),
                ]
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
    /// `task{t}.copy{c}.stem.bias`, …), in the flat buffer's order, as views of the flat
    /// buffer (biases `[out]`, weights `[out, in]`).
    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        let mut named = Vec::new();
        let flat = self.flat.detach();
        let mut layer = |name: String, p: &Place, c: i64| {
            let weight = p.weight(&flat, self.copies(), 0).get(c);
            named.push((format!("{name}.weight"), weight));
            let bias = p.bias(&flat, self.copies(), 0).get(c).squeeze_dim(0);
            named.push((format!("{name}.bias"), bias));
        };
        for c in 0..self.copies() {
            for (l, p) in self.trunk.iter().enumerate() {
                layer(format!("copy{c}.trunk{l}"), p, c);
            }
        }
        for (t, [stem, head]) in self.own.iter().enumerate() {
            for c in 0..self.copies() {
                layer(format!("task{t}.copy{c}.stem"), stem, c);
                layer(format!("task{t}.copy{c}.head"), head, c);
            }
        }
        named
    }

    /// Runs every copy on one input batch per task (`x[t]` is `[B_t, inputs[t]]`), keeping
    /// what [`TaskNet::task_gradients`] needs. With gradient tracking on, the outputs carry
    /// libtorch's graph back to the parameters and to the inputs.
    pub fn forward(&self, x: &[Tensor]) -> TaskNetTrace {
        let rows: Vec<i64> = x.iter().map(|x| x.size()[0]).collect();
        let stems: Vec<Tensor> = (x.iter().zip(&self.own_layers))
            .map(|(x, [stem, _])| stem.forward(x).relu())
            .collect();
        let mut h = match stems.len() {
            1 => stems[0].shallow_clone(),
            _ => Tensor::cat(&stems, 1),
        };
        let layers = self.trunk_layers.len();
        let (mut inputs, mut pre) = (Vec::with_capacity(layers), Vec::with_capacity(layers));
        for layer in &self.trunk_layers {
            let z = layer.forward(&h);
            inputs.push(std::mem::replace(&mut h, z.relu()));
            pre.push(z);
        }
        let parts = match rows.len() {
            1 => vec![h],
            _ => h.split_with_sizes(&rows, 1),
        };
        let heads: Vec<Tensor> = (parts.iter().zip(&self.own_layers))
            .map(|(h, [_, head])| head.forward(h))
            .collect();
        let outputs = (0..self.copies())
            .map(|c| heads.iter().map(|out| out.get(c)).collect())
            .collect();
        TaskNetTrace {
            outputs,
            inputs,
            pre,
            rows,
        }
    }

    /// The task-specific layers' weights and biases as autograd sees them, in buffer order.
    fn own_leaves(&self) -> impl Iterator<Item = &Tensor> + '_ {
        (self.own_layers.iter().flatten()).flat_map(|l| [&l.weight, &l.bias])
    }

    /// Zeroed gradient buffers for `tasks` tasks, for [`TaskNet::task_gradients_into`].
    pub fn gradient_buffers(&self, tasks: usize) -> TaskGradients {
        let float = (Kind::Float, self.flat.device());
        let flat = Tensor::zeros([self.flat.numel() as i64], float);
        let own = (self.own_offsets.windows(2))
            .map(|w| flat.narrow(0, w[0], w[1] - w[0]))
            .collect();
        TaskGradients {
            shared: Tensor::zeros([tasks as i64, self.shared_len], float),
            own,
            flat,
        }
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
        let mut grads = self.gradient_buffers(trace.rows.len());
        self.task_gradients_into(total, trace, &mut grads)?;
        Ok(grads)
    }

    /// [`TaskNet::task_gradients`] written into `grads` (from [`TaskNet::gradient_buffers`]
    /// for as many tasks as `trace` has), so that a learner allocates them once. Every
    /// element is overwritten; the shared part of `grads.flat` is left for the combined
    /// gradient.
    pub fn task_gradients_into(
        &self,
        total: &Tensor,
        trace: &TaskNetTrace,
        grads: &mut TaskGradients,
    ) -> Result<(), tch::TchError> {
        let inputs: Vec<&Tensor> = trace.pre.iter().chain(self.own_leaves()).collect();
        let computed = Tensor::f_run_backward(&[total], &inputs, false, false)?;
        let (pre_grads, own_grads) = computed.split_at(trace.pre.len());
        let copies = self.copies();
        tch::no_grad(|| {
            for ((x, dz), place) in trace.inputs.iter().zip(pre_grads).zip(&self.trunk) {
                self.write_layer_grads(&grads.shared, x, dz, *place, &trace.rows);
            }
            let places = self.own.iter().flatten();
            let targets = places.flat_map(|p| {
                [
                    p.weight(&grads.flat, copies, 0),
                    p.bias(&grads.flat, copies, 0),
                ]
            });
            for (mut target, g) in targets.zip(own_grads) {
                if g.defined() {
                    target.copy_(g);
                } else {
                    let _ = target.zero_();
                }
            }
        });
        Ok(())
    }

    /// Writes each task's gradient of one trunk layer (every copy) into its row of `shared`:
    /// `x` `[copies, B, in]` is the layer's input, `dz` `[copies, B, out]` the gradient at its
    /// output (undefined if the loss does not reach the layer).
    fn write_layer_grads(
        &self,
        shared: &Tensor,
        x: &Tensor,
        dz: &Tensor,
        place: Place,
        rows: &[i64],
    ) {
        let (p, tasks) = (self.shared_len, rows.len() as i64);
        let Place { out, inputs, .. } = place;
        for c in 0..self.copies() {
            // Task t's weight gradient of copy c, [T, out, in], and its bias gradient [T, out].
            let shift = c * place.stride;
            let offset = place.offset + shift;
            let mut weight = shared.as_strided([tasks, out, inputs], [p, inputs, 1], offset);
            let mut bias = shared.as_strided([tasks, out], [p, 1], offset + out * inputs);
            if !dz.defined() {
                let _ = (weight.zero_(), bias.zero_());
                continue;
            }
            let (dz, x) = (dz.get(c), x.get(c));
            if rows.iter().all(|&r| r == rows[0]) {
                // Equal rows (an off-policy minibatch): one batched product.
                let dz = dz.reshape([tasks, rows[0], out]);
                let x = x.reshape([tasks, rows[0], inputs]);
                let _ = dz.transpose(1, 2).bmm_out(&weight, &x);
                bias.copy_(&dz.sum_dim_intlist(1, false, Kind::Float));
            } else {
                let (dzs, xs) = (dz.split_with_sizes(rows, 0), x.split_with_sizes(rows, 0));
                for (t, (dz, x)) in dzs.iter().zip(&xs).enumerate() {
                    let t = t as i64;
                    let _ = dz.tr().mm_out(&weight.get(t), x);
                    bias.get(t)
                        .copy_(&dz.sum_dim_intlist(0, false, Kind::Float));
                }
            }
        }
    }
}

/// The gradient of `loss(outputs)` with respect to every parameter of `net` on inputs `x`,
/// by autograd through a plain rewrite of the network (one `linear` per layer and copy, on
/// leaf copies of the named parameters), flattened in buffer order: the reference that the
/// one-pass per-task gradients are tested against, here and in [`crate::sac`].
#[cfg(test)]
pub(crate) fn separate_gradient(
    net: &TaskNet,
    x: &[Tensor],
    loss: impl Fn(&[Vec<Tensor>]) -> Tensor,
) -> Tensor {
    let params: Vec<(String, Tensor)> = (net.named_params().into_iter())
        .map(|(n, p)| (n, p.detach().copy().set_requires_grad(true)))
        .collect();
    let find = |name: String| &params.iter().find(|(n, _)| *n == name).unwrap().1;
    let layer = |x: &Tensor, name: &str| {
        x.linear(
            find(format!("{name}.weight")),
            Some(find(format!("{name}.bias"))),
        )
    };
    let config = net.config();
    let rows: Vec<i64> = x.iter().map(|x| x.size()[0]).collect();
    let outputs: Vec<Vec<Tensor>> = (0..config.copies)
        .map(|c| {
            let stems: Vec<Tensor> = (x.iter().enumerate())
                .map(|(t, x)| layer(x, &format!("task{t}.copy{c}.stem")).relu())
                .collect();
            let mut h = Tensor::cat(&stems, 0);
            for l in 0..config.hidden.len() - 1 {
                h = layer(&h, &format!("copy{c}.trunk{l}")).relu();
            }
            (h.split_with_sizes(&rows, 0).iter().enumerate())
                .map(|(t, h)| layer(h, &format!("task{t}.copy{c}.head")))
                .collect()
        })
        .collect();
    let leaves: Vec<&Tensor> = params.iter().map(|(_, p)| p).collect();
    let grads = Tensor::run_backward(&[loss(&outputs)], &leaves, false, true);
    let flat: Vec<Tensor> = (grads.iter().zip(&leaves))
        .map(|(g, p)| match g.defined() {
            true => g.reshape([-1]),
            false => p.zeros_like().reshape([-1]),
        })
        .collect();
    Tensor::cat(&flat, 0)
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

    /// Task `t`'s loss: a fixed linear and quadratic function of every copy's output
    /// (`outputs[copy][t]`).
    fn loss(outputs: &[Vec<Tensor>], t: usize) -> Tensor {
        (outputs.iter().enumerate())
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

    fn check(rows: &[i64], hidden: &[i64], copies: usize) {
        let (net, x) = net(rows, hidden, copies);
        let trace = net.forward(&x);
        let losses: Vec<Tensor> = (0..rows.len()).map(|t| loss(&trace.outputs, t)).collect();
        let total = Tensor::stack(&losses, 0).sum(Kind::Float);
        let grads = net.task_gradients(&total, &trace).unwrap();
        let p = net.shared_len();
        assert_eq!(grads.shared.size(), [rows.len() as i64, p]);
        assert_eq!(p > 0, hidden.len() > 1);
        for t in 0..rows.len() {
            let expected = separate_gradient(&net, &x, |outputs| loss(outputs, t));
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
        let leaves: Vec<&Tensor> = (critic.trunk_layers.iter())
            .flat_map(|l| [&l.weight, &l.bias])
            .chain(critic.own_leaves())
            .collect();
        assert_eq!(leaves.len(), 2 + 2 * 2 * 2);
        for p in leaves {
            assert!(
                p.requires_grad() && !p.grad().defined(),
                "a critic weight got a gradient"
            );
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
