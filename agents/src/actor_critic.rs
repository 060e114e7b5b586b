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
#[derive(Debug)]
pub struct ActorCritic {
    vs: nn::VarStore,
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
        Self {
            vs,
            tasks: tasks.to_vec(),
            actor,
            critic,
            policy_heads,
            value_heads,
            log_std,
        }
    }

    /// The tasks the network was built for.
    pub fn tasks(&self) -> &[TaskShape] {
        &self.tasks
    }

    /// The parameter store (for saving, loading and the device).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Mutable parameter store (for loading weights).
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
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
                    None => Distribution::Categorical { logits: out },
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
        self.shared_params().iter().map(|p| p.numel() as i64).sum()
    }
}

/// Per-task gradients from one backward pass: the `[T, P]` matrix for the shared weights and
/// each task's gradient of its own weights.
#[derive(Debug)]
pub struct TaskGradients {
    /// Row `t`: `∂L_t/∂θ_shared`, flattened in [`ActorCritic::shared_params`] order.
    pub shared: Tensor,
    /// `own[t][k]`: `∂L_t/∂` the `k`-th of [`ActorCritic::task_params`]`(t)`.
    pub own: Vec<Vec<Tensor>>,
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
        let total = losses.iter().fold(
            Tensor::zeros([], (Kind::Float, self.vs.device())),
            |acc, l| acc + l,
        );
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
                params
                    .iter()
                    .zip(grads.by_ref())
                    .map(|(p, g)| if g.defined() { g } else { p.zeros_like() })
                    .collect()
            })
            .collect();
        Ok(TaskGradients { shared, own })
    }

    fn per_task_shared(&self, dz: &[Tensor], out: &Output) -> Tensor {
        let mut columns = Vec::new();
        let mut dz = dz.iter();
        for trace in &out.traces {
            let one_hot = trace.task_one_hot();
            for input in trace.layer_inputs() {
                let dz = dz.next().expect("one output gradient per shared layer");
                // [T, B, out]: each task's rows of dz, zero elsewhere.
                let masked = one_hot.unsqueeze(-1) * dz.unsqueeze(0);
                let tasks = one_hot.size()[0];
                let weight = masked.transpose(1, 2).matmul(input).reshape([tasks, -1]);
                let bias = one_hot.matmul(dz);
                columns.extend([weight, bias]);
            }
        }
        if columns.is_empty() {
            return Tensor::zeros(
                [self.tasks.len() as i64, 0],
                (Kind::Float, self.vs.device()),
            );
        }
        Tensor::cat(&columns, 1)
    }
}
