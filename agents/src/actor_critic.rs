//! The multi-task actor-critic: per-task input stem → shared trunk → per-task policy and value
//! heads, with CleanRL's architecture (`ppo.py`: tanh MLP, orthogonal init with gain √2,
//! policy head gain 0.01, value head gain 1) when there is one task.
//!
//! With `hidden = [h1, h2, …]`, each task's stem is `Linear(obs_dim, h1) + tanh` and the shared
//! trunk is `Linear(h1, h2) + tanh, …`. The critic has its own stems and trunk (as CleanRL's
//! separate critic network) unless `shared_critic` puts the value heads on the actor's trunk.
//!
//! Batches are grouped by task: task `t`'s rows are contiguous, in task order, and each task's
//! stem and heads run once on its slice.

use tch::{nn, Kind, Tensor};

use crate::distribution::Distribution;
use crate::linear::Linear;
use crate::tower::{Tower, TowerTrace};

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
    /// What the shared layers saw, for per-task gradients.
    pub(crate) traces: Vec<TowerTrace>,
}

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
    tasks: Vec<TaskShape>,
    actor: Tower,
    critic: Option<Tower>,
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
        let actor = Tower::new(&(&root / "actor"), &obs_dims, &config.hidden);
        let critic = (!config.shared_critic)
            .then(|| Tower::new(&(&root / "critic"), &obs_dims, &config.hidden));
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
            tasks: tasks.to_vec(),
            actor,
            critic,
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
    }

    fn params_mut(&mut self) -> Vec<&mut Tensor> {
        let (mut params, mut stems) = self.actor.params_mut();
        let mut critic_stems = match &mut self.critic {
            Some(critic) => {
                let (shared, stems) = critic.params_mut();
                params.extend(shared);
                Some(stems)
            }
            None => None,
        };
        let heads = self
            .policy_heads
            .iter_mut()
            .zip(self.value_heads.iter_mut());
        for (t, ((policy, value), log_std)) in heads.zip(self.log_std.iter_mut()).enumerate() {
            params.extend(std::mem::take(&mut stems[t]));
            if let Some(critic_stems) = &mut critic_stems {
                params.extend(std::mem::take(&mut critic_stems[t]));
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
        let towers = [
            ("actor", Some(self.actor.shared_params())),
            ("critic", self.critic.as_ref().map(Tower::shared_params)),
        ];
        for (tower, params) in towers {
            for (k, p) in params.into_iter().flatten().enumerate() {
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
        if self.critic.is_some() {
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
    pub fn forward(&self, obs: &[Tensor]) -> Output {
        let (actor_features, actor_trace) = self.actor.forward(obs);
        let mut traces = vec![actor_trace];
        let critic_features = match &self.critic {
            Some(critic) => {
                let (features, trace) = critic.forward(obs);
                traces.push(trace);
                features
            }
            None => actor_features.iter().map(Tensor::shallow_clone).collect(),
        };
        let dists = actor_features
            .iter()
            .enumerate()
            .map(|(t, h)| {
                let out = self.policy_heads[t].forward(h);
                match &self.log_std[t] {
                    Some(log_std) => Distribution::Normal {
                        mean: out,
                        log_std: log_std.shallow_clone(),
                    },
                    None => Distribution::categorical(&out),
                }
            })
            .collect();
        let values = critic_features
            .iter()
            .enumerate()
            .map(|(t, h)| self.value_heads[t].forward(h).squeeze_dim(-1))
            .collect();
        Output {
            dists,
            values,
            traces,
        }
    }

    /// The values `[B_t]` of one batch per task, without building a graph.
    pub fn values(&self, obs: &[Tensor]) -> Vec<Tensor> {
        tch::no_grad(|| self.forward(obs).values)
    }

    /// The weights shared by all tasks (trunk layers of actor, then critic), in a fixed order.
    pub fn shared_params(&self) -> Vec<&Tensor> {
        let mut params = self.actor.shared_params();
        if let Some(critic) = &self.critic {
            params.extend(critic.shared_params());
        }
        params
    }

    /// The weights that belong to task `t` alone (stems, heads, log-std), in a fixed order.
    pub fn task_params(&self, t: usize) -> Vec<&Tensor> {
        let mut params = self.actor.stem_params(t);
        if let Some(critic) = &self.critic {
            params.extend(critic.stem_params(t));
        }
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
}

impl ActorCritic {
    /// The gradients of each task's loss `losses[t]` (computed from `out`) with ONE backward
    /// pass of `Σ_t L_t`.
    ///
    /// For a shared linear layer `z = x Wᵀ + b`, `∂L_t/∂W = Σ_{rows r of t} (∂L/∂z_r)ᵀ x_r` since
    /// `L_t` depends only on task `t`'s rows; these sums are one batched product over tasks.
    /// Task-specific weights get `∂(Σ L)/∂θ_t = ∂L_t/∂θ_t` directly. Every task must have rows.
    pub fn task_gradients(
        &self,
        losses: &[Tensor],
        out: &Output,
    ) -> Result<TaskGradients, tch::TchError> {
        let total = match losses {
            [only] => only.shallow_clone(),
            _ => Tensor::stack(losses, 0).sum(Kind::Float),
        };
        let pre_activations: Vec<&Tensor> = out
            .traces
            .iter()
            .flat_map(|t| t.pre_activations())
            .collect();
        let own_params: Vec<Vec<&Tensor>> =
            (0..self.tasks.len()).map(|t| self.task_params(t)).collect();
        let mut inputs: Vec<&Tensor> = pre_activations.clone();
        inputs.extend(own_params.iter().flatten().copied());
        let mut grads = Tensor::f_run_backward(&[total], &inputs, false, false)?.into_iter();
        let dz: Vec<Tensor> = grads.by_ref().take(pre_activations.len()).collect();
        let shared = self.per_task_shared(&dz, out);
        // A weight that a loss does not reach (say a head unused by that loss) gets zeros.
        let own = own_params
            .iter()
            .map(|params| {
                let flat: Vec<Tensor> = params
                    .iter()
                    .zip(grads.by_ref())
                    .map(|(p, g)| {
                        if g.defined() {
                            g.reshape([-1])
                        } else {
                            p.zeros_like().reshape([-1])
                        }
                    })
                    .collect();
                Tensor::cat(&flat, 0)
            })
            .collect();
        Ok(TaskGradients { shared, own })
    }

    fn per_task_shared(&self, dz: &[Tensor], out: &Output) -> Tensor {
        let mut columns = Vec::new();
        let mut dz = dz.iter();
        for trace in &out.traces {
            for input in trace.layer_inputs() {
                let dz = dz.next().expect("one output gradient per shared layer");
                columns.extend(per_task_linear_grads(dz, input, trace.rows()));
            }
        }
        if columns.is_empty() {
            return Tensor::zeros([self.tasks.len() as i64, 0], (Kind::Float, self.device));
        }
        Tensor::cat(&columns, 1)
    }
}

/// Per-task gradients `[T, out·in]` and `[T, out]` of a linear layer's weight and bias, from
/// the gradient `dz` `[B, out]` at its output and its input `x` `[B, in]`, rows grouped by task
/// (`rows[t]` each): `∂L_t/∂W = dz_tᵀ x_t`, `∂L_t/∂b = Σ_rows dz_t`.
fn per_task_linear_grads(dz: &Tensor, x: &Tensor, rows: &[i64]) -> [Tensor; 2] {
    let tasks = rows.len() as i64;
    let (outputs, inputs) = (dz.size()[1], x.size()[1]);
    if rows.iter().all(|&n| n == rows[0]) {
        // Equal shares (the usual case): one batched product over [T, n, ·] views.
        let dz = dz.view([tasks, rows[0], outputs]);
        let x = x.view([tasks, rows[0], inputs]);
        let weight = dz.transpose(1, 2).bmm(&x).reshape([tasks, -1]);
        return [weight, dz.sum_dim_intlist(1, false, Kind::Float)];
    }
    let (mut weights, mut biases, mut start) = (Vec::new(), Vec::new(), 0);
    for &n in rows {
        let (dz, x) = (dz.narrow(0, start, n), x.narrow(0, start, n));
        weights.push(dz.tr().mm(&x).reshape([-1]));
        biases.push(dz.sum_dim_intlist(0, false, Kind::Float));
        start += n;
    }
    [Tensor::stack(&weights, 0), Tensor::stack(&biases, 0)]
}
