//! The multi-task actor-critic: per-task input stem → shared trunk → per-task policy and value
//! heads, with CleanRL's architecture (`ppo.py`: tanh MLP, orthogonal init with gain √2,
//! policy head gain 0.01, value head gain 1) when there is one task.
//!
//! With `hidden = [h1, h2, …]`, each task's stem is `Linear(obs_dim, h1) + tanh` and the shared
//! trunk is `Linear(h1, h2) + tanh, …`. Image tasks (a [`TaskShape::grid`]) get convolutional
//! stems instead (see [`crate::conv`]); the trunk then starts with `Linear(F, h1) + tanh`, `F`
//! the flattened convolution features, and vector tasks' stems map to `F`. The critic has its
//! own stems and trunk (as CleanRL's separate critic network) unless `shared_critic` puts the
//! value heads on the actor's trunk.
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
use crate::stem::Layout;
use crate::tower::{Tower, TowerSlots, TowerStack, TowerTrace};

mod gradients;

pub use crate::task_shape::{ActionSpec, NetConfig, TaskShape};
pub use gradients::{GradBuffers, TaskGradients};

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

impl Output {
    /// The number of rows of each task (what [`ActorCritic::grad_buffers`] is made for).
    pub fn rows(&self) -> &[i64] {
        self.trace.rows()
    }
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
        let layout = Layout::new(tasks, config);
        let mut towers = vec![Tower::new(&(&root / "actor"), &layout)];
        if !config.shared_critic {
            towers.push(Tower::new(&(&root / "critic"), &layout));
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
            towers: TowerStack::new(towers, &layout, config.kernels),
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
            let conv = params.has_conv() as usize;
            for (k, p) in params.shared_params().into_iter().enumerate() {
                let layer = match k / 2 {
                    0 if conv == 1 => "conv".to_string(),
                    i => format!("trunk{}", i - conv),
                };
                named.push((format!("{tower}.{layer}.{}", names[k % 2]), p));
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
