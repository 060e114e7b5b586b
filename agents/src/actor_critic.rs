//! The multi-task actor-critic: per-task input stem → shared trunk → per-task policy and value
//! heads, with CleanRL's architecture (`ppo.py`: tanh MLP, orthogonal init with gain √2,
//! policy head gain 0.01, value head gain 1) when there is one task.
//!
//! With `hidden = [h1, h2, …]`, each task's stem is `Linear(obs_dim, h1) + tanh` and the shared
//! trunk is `Linear(h1, h2) + tanh, …`. The critic has its own stems and trunk (as CleanRL's
//! separate critic network) unless `shared_critic` puts the value heads on the actor's trunk.
//!
//! Batches are grouped by task: task `t`'s rows are contiguous, in task order, and each task's
//! stem and heads run once on its slice. Actor and critic towers run together as one batched
//! MLP (`tower.rs`).
//!
//! A learner step needs no autograd graph: [`ActorCritic::backward`] propagates each task's
//! gradient at its heads (from the losses' hand-written gradients, or from libtorch's autograd
//! over the loss alone in [`ActorCritic::task_gradients`]) through the network by hand, into
//! the per-task gradients of the shared weights and each task's gradient of its own weights,
//! written straight into buffers laid out as the parameters. Every tensor operation costs
//! microseconds of libtorch overhead on these small layers, so fewer of them is faster.

use tch::{nn, Kind, Tensor};

use crate::distribution::Distribution;
use crate::linear::Linear;
use crate::tower::{Tower, TowerSlots, TowerStack, TowerTrace};

/// The action space of one task, as the network sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionSpec {
    /// `n` discrete actions: a categorical head with `n` logits.
    Discrete(i64),
    /// A `d`-dimensional box: a Gaussian head with `d` means and a learned log-std.
    Continuous(i64),
}

/// What a task looks like to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskShape {
    /// Length of the flat observation.
    pub obs_dim: i64,
    /// The action space.
    pub action: ActionSpec,
}

/// Network sizes and options.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Widths of the hidden layers: the first is each task's stem, the rest the shared trunk.
    pub hidden: Vec<i64>,
    /// Value heads on the actor's trunk instead of a separate critic trunk.
    pub shared_critic: bool,
    /// Initial log standard deviation of Gaussian policies.
    pub init_log_std: f64,
}

impl Default for NetConfig {
    /// CleanRL's 64 × 64 tanh network with a separate critic.
    fn default() -> Self {
        Self {
            hidden: vec![64, 64],
            shared_critic: false,
            init_log_std: 0.0,
        }
    }
}

/// The network's output on a batch grouped by task.
#[derive(Debug)]
pub struct Output {
    /// One action distribution per task, over that task's rows.
    pub dists: Vec<Distribution>,
    /// One value vector `[B_t]` per task.
    pub values: Vec<Tensor>,
    /// Each task's policy-head output `[B_t, n]` (logits or Gaussian means).
    policy_out: Vec<Tensor>,
    /// What the towers saw, for the backward pass.
    trace: TowerTrace,
}

/// The gradient of one task's loss at its heads' outputs: what [`ActorCritic::backward`]
/// propagates through the network.
///
/// # Shapes
/// `policy` `[B_t, n]` (at the logits or Gaussian means), `value` `[B_t]`, `log_std` `[d]`.
#[derive(Debug)]
pub struct HeadGradients {
    /// `∂L_t/∂` the policy head's output.
    pub policy: Tensor,
    /// `∂L_t/∂V(s)`.
    pub value: Tensor,
    /// `∂L_t/∂log σ` for a Gaussian policy, `None` for a categorical one.
    pub log_std: Option<Tensor>,
}

/// The names of the towers, in [`TowerStack`] order.
const TOWERS: [&str; 2] = ["actor", "critic"];

/// The multi-task actor-critic network and its parameters.
///
/// All parameters live in one flat buffer, laid out `[shared | task 0's own | task 1's own |
/// …]`; each weight is a leaf tensor viewing its part of the buffer. The optimizer then
/// updates the whole network with a handful of tensor operations on the buffer.
#[derive(Debug)]
pub struct ActorCritic {
    device: tch::Device,
    flat: Tensor,
    shared_len: i64,
    /// Where each task's own parameters start in `flat`.
    own_offsets: Vec<i64>,
    tasks: Vec<TaskShape>,
    /// The actor's tower, then the critic's unless the critic is shared.
    towers: TowerStack,
    policy_heads: Vec<Linear>,
    value_heads: Vec<Linear>,
    log_std: Vec<Option<Tensor>>,
}

impl ActorCritic {
    /// A freshly initialised network for `tasks` on `device` (seed libtorch first with
    /// `tch::manual_seed` for reproducible weights).
    ///
    /// # Panics
    /// If `config.hidden` is empty or `tasks` is empty: the trainer validates both first.
    pub fn new(tasks: &[TaskShape], config: &NetConfig, device: tch::Device) -> Self {
        assert!(
            !config.hidden.is_empty() && !tasks.is_empty(),
            "network needs layers and tasks"
        );
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let obs_dims: Vec<i64> = tasks.iter().map(|t| t.obs_dim).collect();
        let mut towers = vec![Tower::new(&(&root / "actor"), &obs_dims, &config.hidden)];
        if !config.shared_critic {
            towers.push(Tower::new(&(&root / "critic"), &obs_dims, &config.hidden));
        }
        let width = *config.hidden.last().expect("hidden is not empty");
        let mut policy_heads = Vec::new();
        let mut value_heads = Vec::new();
        let mut log_std = Vec::new();
        for (t, task) in tasks.iter().enumerate() {
            let p = &root / format!("task{t}");
            let outputs = match task.action {
                ActionSpec::Discrete(n) | ActionSpec::Continuous(n) => n,
            };
            policy_heads.push(Linear::new(&(&p / "policy"), width, outputs, 0.01));
            value_heads.push(Linear::new(&(&p / "value"), width, 1, 1.0));
            log_std.push(match task.action {
                ActionSpec::Continuous(d) => {
                    Some(p.var("log_std", &[d], nn::Init::Const(config.init_log_std)))
                }
                ActionSpec::Discrete(_) => None,
            });
        }
        let mut net = Self {
            device,
            flat: Tensor::zeros([0], (Kind::Float, device)),
            shared_len: 0,
            own_offsets: Vec::new(),
            tasks: tasks.to_vec(),
            towers: TowerStack::new(towers),
            policy_heads,
            value_heads,
            log_std,
        };
        net.flatten();
        drop(vs);
        net
    }

    /// Moves every parameter into one flat buffer (see [`ActorCritic`]) and makes each a leaf
    /// view of its part.
    fn flatten(&mut self) {
        let shared_len: i64 = self.shared_params().iter().map(|p| p.numel() as i64).sum();
        let all: Vec<Tensor> = self
            .named_params()
            .iter()
            .map(|(_, p)| p.detach().reshape([-1]))
            .collect();
        let flat = Tensor::cat(&all, 0).detach();
        let mut offset = 0;
        for p in self.params_mut() {
            let n = p.numel() as i64;
            *p = flat
                .narrow(0, offset, n)
                .view(p.size().as_slice())
                .detach()
                .set_requires_grad(true);
            offset += n;
        }
        self.flat = flat;
        self.shared_len = shared_len;
        self.own_offsets = (0..self.tasks.len())
            .scan(shared_len, |offset, t| {
                let start = *offset;
                *offset += self
                    .task_params(t)
                    .iter()
                    .map(|p| p.numel() as i64)
                    .sum::<i64>();
                Some(start)
            })
            .collect();
        // Each task's parameters start with its stems.
        self.towers.bind(&self.flat, self.own_offsets.clone());
    }

    fn params_mut(&mut self) -> Vec<&mut Tensor> {
        let mut params = Vec::new();
        let mut stems = Vec::new();
        for tower in self.towers.towers_mut() {
            let (shared, tower_stems) = tower.params_mut();
            params.extend(shared);
            stems.push(tower_stems);
        }
        let heads = self
            .policy_heads
            .iter_mut()
            .zip(self.value_heads.iter_mut());
        for (t, ((policy, value), log_std)) in heads.zip(self.log_std.iter_mut()).enumerate() {
            for tower_stems in &mut stems {
                params.extend(std::mem::take(&mut tower_stems[t]));
            }
            params.extend([
                &mut policy.weight,
                &mut policy.bias,
                &mut value.weight,
                &mut value.bias,
            ]);
            params.extend(log_std.iter_mut());
        }
        params
    }

    /// Every parameter with a stable name, in the flat buffer's order.
    pub fn named_params(&self) -> Vec<(String, &Tensor)> {
        let mut named: Vec<(String, &Tensor)> = Vec::new();
        let names = ["weight", "bias"];
        for (tower, params) in TOWERS.iter().zip(self.towers.towers()) {
            for (k, p) in params.shared_params().into_iter().enumerate() {
                named.push((format!("{tower}.trunk{}.{}", k / 2, names[k % 2]), p));
            }
        }
        for t in 0..self.tasks.len() {
            let labels = self.task_param_labels(t);
            named.extend(
                labels
                    .into_iter()
                    .zip(self.task_params(t))
                    .map(|(l, p)| (format!("task{t}.{l}"), p)),
            );
        }
        named
    }

    fn task_param_labels(&self, t: usize) -> Vec<&'static str> {
        let mut labels = vec!["actor_stem.weight", "actor_stem.bias"];
        if self.towers.towers().len() > 1 {
            labels.extend(["critic_stem.weight", "critic_stem.bias"]);
        }
        labels.extend(["policy.weight", "policy.bias", "value.weight", "value.bias"]);
        if self.log_std[t].is_some() {
            labels.push("log_std");
        }
        labels
    }

    /// The flat buffer holding every parameter (see [`ActorCritic`]); updating it in place
    /// (without gradient tracking) updates the network.
    pub fn flat_params(&self) -> &Tensor {
        &self.flat
    }

    /// The device the parameters live on.
    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// Writes the parameters to a safetensors file, by name.
    pub fn save(&self, path: &std::path::Path) -> Result<(), tch::TchError> {
        Tensor::write_safetensors(&self.named_params(), path)
    }

    /// Reads parameters saved by [`ActorCritic::save`] from a network of the same tasks and sizes.
    pub fn load(&mut self, path: &std::path::Path) -> Result<(), tch::TchError> {
        let saved = Tensor::read_safetensors(path)?;
        let named = self.named_params();
        if saved.len() != named.len() {
            let message = format!(
                "{} tensors saved, the network has {}",
                saved.len(),
                named.len()
            );
            return Err(tch::TchError::FileFormat(message));
        }
        tch::no_grad(|| {
            for (name, p) in &named {
                let (_, value) = saved.iter().find(|(n, _)| n == name).ok_or_else(|| {
                    tch::TchError::FileFormat(format!("no tensor `{name}` saved"))
                })?;
                if value.size() != p.size() {
                    let message = format!(
                        "`{name}` has shape {:?}, expected {:?}",
                        value.size(),
                        p.size()
                    );
                    return Err(tch::TchError::FileFormat(message));
                }
                p.shallow_clone().copy_(value);
            }
            Ok(())
        })
    }

    /// The tasks the network was built for.
    pub fn tasks(&self) -> &[TaskShape] {
        &self.tasks
    }

    /// Runs the network on one observation batch per task (`obs[t]` is `[B_t, obs_dim_t]`).
    ///
    /// With gradient tracking on, the outputs carry libtorch's graph back to the parameters
    /// (and [`ActorCritic::task_gradients`] can differentiate losses built from them); without
    /// it (`tch::no_grad`), the cheaper way to train is [`ActorCritic::backward`] with
    /// gradients at the heads computed by hand.
    pub fn forward(&self, obs: &[Tensor]) -> Output {
        let trace = self.towers.forward(obs);
        let critic_features = trace.features(self.towers.towers().len() - 1);
        let policy_out: Vec<Tensor> = trace
            .features(0)
            .iter()
            .zip(&self.policy_heads)
            .map(|(h, head)| head.forward(h))
            .collect();
        let dists = policy_out
            .iter()
            .zip(&self.log_std)
            .map(|(out, log_std)| match log_std {
                Some(log_std) => Distribution::Normal {
                    mean: out.shallow_clone(),
                    log_std: log_std.shallow_clone(),
                },
                None => Distribution::categorical(out),
            })
            .collect();
        let values = critic_features
            .iter()
            .zip(&self.value_heads)
            .map(|(h, head)| head.forward(h).squeeze_dim(-1))
            .collect();
        Output {
            dists,
            values,
            policy_out,
            trace,
        }
    }

    /// The values `[B_t]` of one batch per task, without building a graph.
    pub fn values(&self, obs: &[Tensor]) -> Vec<Tensor> {
        tch::no_grad(|| self.forward(obs).values)
    }

    /// The weights shared by all tasks (trunk layers of actor, then critic), in a fixed order.
    pub fn shared_params(&self) -> Vec<&Tensor> {
        let towers = self.towers.towers();
        towers.iter().flat_map(Tower::shared_params).collect()
    }

    /// The weights that belong to task `t` alone (stems, heads, log-std), in a fixed order.
    pub fn task_params(&self, t: usize) -> Vec<&Tensor> {
        let towers = self.towers.towers();
        let mut params: Vec<&Tensor> = towers.iter().flat_map(|w| w.stem_params(t)).collect();
        for head in [&self.policy_heads[t], &self.value_heads[t]] {
            params.extend([&head.weight, &head.bias]);
        }
        params.extend(self.log_std[t].iter());
        params
    }

    /// Number of shared parameters `P` (columns of the per-task gradient matrix).
    pub fn shared_len(&self) -> i64 {
        self.shared_len
    }
}

/// Per-task gradients from one backward pass: the `[T, P]` matrix for the shared weights and
/// each task's gradient of its own weights.
#[derive(Debug)]
pub struct TaskGradients {
    /// Row `t`: `∂L_t/∂θ_shared`, flattened in [`ActorCritic::shared_params`] order.
    pub shared: Tensor,
    /// `own[t]`: `∂L_t/∂` task `t`'s own weights ([`ActorCritic::task_params`]`(t)`),
    /// flattened in that order.
    pub own: Vec<Tensor>,
    /// The buffer laid out as [`ActorCritic::flat_params`] whose task parts `own` views; its
    /// shared part is left for the aggregated gradient.
    pub(crate) flat: Tensor,
}

impl ActorCritic {
    /// The gradients of each task's loss `losses[t]` (built from `out`, which
    /// [`ActorCritic::forward`] computed with gradient tracking on).
    ///
    /// libtorch differentiates `Σ_t L_t` only as far as the heads' outputs (each task's loss
    /// reaches only its own heads); [`ActorCritic::backward`] does the rest.
    pub fn task_gradients(
        &self,
        losses: &[Tensor],
        out: &Output,
    ) -> Result<TaskGradients, tch::TchError> {
        let total = match losses {
            [only] => only.shallow_clone(),
            _ => Tensor::stack(losses, 0).sum(Kind::Float),
        };
        let tasks = self.tasks.len();
        let mut inputs: Vec<&Tensor> = out.policy_out.iter().chain(&out.values).collect();
        inputs.extend(self.log_std.iter().flatten());
        let grads = Tensor::f_run_backward(&[total], &inputs, false, false)?;
        // An output that a loss does not reach (say a head unused by that loss) gets zeros.
        let grad = |k: usize| {
            if grads[k].defined() {
                grads[k].shallow_clone()
            } else {
                inputs[k].zeros_like()
            }
        };
        let mut log_std = (2 * tasks..inputs.len()).map(grad);
        let heads: Vec<HeadGradients> = (0..tasks)
            .map(|t| HeadGradients {
                policy: grad(t),
                value: grad(tasks + t),
                log_std: self.log_std[t].as_ref().and_then(|_| log_std.next()),
            })
            .collect();
        Ok(self.backward(out, &heads))
    }

    /// The per-task gradients from each task's gradient at its heads' outputs (`heads[t]`,
    /// for the rows of task `t` in `out`), propagated through the network by hand: per task
    /// for the shared layers, as one pass for the rest. Every task must have rows.
    ///
    /// For a shared linear layer `z = x Wᵀ + b`, `∂L_t/∂W = Σ_{rows r of t} (∂L/∂z_r)ᵀ x_r`
    /// since `L_t` depends only on task `t`'s rows; these sums are one batched product over
    /// tasks. Task-specific weights get `∂(Σ L)/∂θ_t = ∂L_t/∂θ_t` directly.
    pub fn backward(&self, out: &Output, heads: &[HeadGradients]) -> TaskGradients {
        let mut buffers = self.grad_buffers(out.trace.rows());
        self.backward_into(out, heads, &mut buffers);
        buffers.grads
    }

    /// Fresh buffers for [`ActorCritic::backward_into`] on batches of `rows[t]` rows of task
    /// `t`.
    pub fn grad_buffers(&self, rows: &[i64]) -> GradBuffers {
        let float = (Kind::Float, self.device);
        let tasks = self.tasks.len();
        let flat = Tensor::empty([self.flat.numel() as i64], float);
        let shared = Tensor::empty([tasks as i64, self.shared_len], float);
        let towers = self.towers.towers().len() as i64;
        let width = self.policy_heads[0].shape()[1];
        let total: i64 = rows.iter().sum();
        let d_features = Tensor::empty([towers, total, width], float);
        let mut start = 0;
        let mut heads = Vec::with_capacity(tasks);
        let mut d_rows = Vec::with_capacity(tasks);
        for (t, &n) in rows.iter().enumerate() {
            // Task t's parameters: its stems (one per tower), policy, value, log-std.
            let params = self.task_params(t);
            let (stems, rest) = params.split_at(2 * towers as usize);
            let mut offset =
                self.own_offsets[t] + stems.iter().map(|p| p.numel() as i64).sum::<i64>();
            heads.push(
                rest.iter()
                    .map(|p| {
                        let size = p.size();
                        let strides = if size.len() == 2 {
                            vec![size[1], 1]
                        } else {
                            vec![1]
                        };
                        offset += p.numel() as i64;
                        flat.as_strided(
                            size.as_slice(),
                            strides.as_slice(),
                            offset - p.numel() as i64,
                        )
                    })
                    .collect(),
            );
            d_rows.push(
                (0..towers)
                    .map(|c| match tasks {
                        1 => d_features.get(c),
                        _ => d_features.get(c).narrow(0, start, n),
                    })
                    .collect(),
            );
            start += n;
        }
        let tower = self.towers.slots(&shared, &flat, rows);
        let own = (0..tasks)
            .map(|t| {
                let end = self.own_offsets.get(t + 1).copied();
                let end = end.unwrap_or(self.flat.numel() as i64);
                flat.narrow(0, self.own_offsets[t], end - self.own_offsets[t])
            })
            .collect();
        GradBuffers {
            rows: rows.to_vec(),
            grads: TaskGradients { shared, own, flat },
            d_features,
            heads,
            d_rows,
            tower,
        }
    }

    /// [`ActorCritic::backward`] into `buffers` (made by [`ActorCritic::grad_buffers`] for
    /// the rows of `out`; fresh ones if they were made for other rows), overwriting what the
    /// previous call left there.
    pub fn backward_into(&self, out: &Output, heads: &[HeadGradients], buffers: &mut GradBuffers) {
        let rows = out.trace.rows();
        if buffers.rows != rows {
            *buffers = self.grad_buffers(rows);
        }
        tch::no_grad(|| {
            let towers = self.towers.towers().len();
            let features = out.trace.features(0);
            let critic_features = out.trace.features(towers - 1);
            for (t, g) in heads.iter().enumerate() {
                let slots = &buffers.heads[t];
                let (policy, value) = (&self.policy_heads[t], &self.value_heads[t]);
                let d_value = g.value.unsqueeze(-1);
                linear_grads(&g.policy, &features[t], &slots[0], &slots[1]);
                linear_grads(&d_value, &critic_features[t], &slots[2], &slots[3]);
                if let Some(slot) = slots.get(4) {
                    match &g.log_std {
                        Some(d) => slot.shallow_clone().copy_(d),
                        None => drop(slot.shallow_clone().zero_()),
                    }
                }
                let d_rows = &buffers.d_rows[t];
                let _ = g.policy.mm_out(&d_rows[0], &policy.weight);
                match d_rows.get(1) {
                    Some(critic) => drop(d_value.mm_out(critic, &value.weight)),
                    None => drop(d_rows[0].shallow_clone().addmm_(&d_value, &value.weight)),
                }
            }
            (self.towers).backward(&out.trace, &buffers.d_features, &buffers.tower);
        });
    }
}

/// Buffers that [`ActorCritic::backward_into`] writes a step's gradients into, with every view
/// of them it needs made once: reused from one step to the next, they spare each step its
/// allocations and most of its view operations.
#[derive(Debug)]
pub struct GradBuffers {
    rows: Vec<i64>,
    grads: TaskGradients,
    /// `∂L/∂` each tower's features, `[towers, B, width]`.
    d_features: Tensor,
    /// Per task: views of `grads.flat` for the policy head's weight and bias, the value
    /// head's, and the log-std if any.
    heads: Vec<Vec<Tensor>>,
    /// Per task and tower: that task's rows of `d_features`.
    d_rows: Vec<Vec<Tensor>>,
    tower: TowerSlots,
}

impl GradBuffers {
    /// The gradients of the last [`ActorCritic::backward_into`], valid until the next one.
    pub fn gradients(&self) -> &TaskGradients {
        &self.grads
    }
}

/// Writes `∂L/∂W = dzᵀ x` into `weight` and `∂L/∂b = Σ_rows dz` into `bias` for a linear
/// layer with output gradient `dz` `[B, out]` and input `x` `[B, in]`.
fn linear_grads(dz: &Tensor, x: &Tensor, weight: &Tensor, bias: &Tensor) {
    let _ = dz.tr().mm_out(weight, x);
    let _ = dz.sum_intlist_out(bias, [0i64].as_slice(), false, Kind::Float);
}
