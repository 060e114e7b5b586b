//! The batch stage of an update: the rollout as tensors, shuffled once per epoch, cut into
//! minibatches that hold an equal share of every task's transitions (an auxiliary loss takes
//! its task's rows).

use polytask_agents::actor_critic::{ActionSpec, ActorCritic};
use polytask_agents::ppo::normalize_advantages;
use tch::{Device, Kind, Tensor};

use super::aux_batch::AuxBatch;
use super::storage::TaskStorage;
use crate::config::AuxLoss;

/// One task's transitions as tensors.
#[derive(Debug)]
pub struct TaskBatch {
    /// Observations `[N, obs_dim]`.
    pub obs: Tensor,
    /// Actions as sampled: indices `[N]` (discrete) or `[N, d]` (continuous).
    pub actions: Tensor,
    /// `log π_old(a|s)`, `[N]`.
    pub log_probs: Tensor,
    /// `V_old(s)`, `[N]`.
    pub values: Tensor,
    /// GAE advantages, `[N]`.
    pub advantages: Tensor,
    /// GAE returns, `[N]`.
    pub returns: Tensor,
}

impl TaskBatch {
    fn new(s: &TaskStorage, action: ActionSpec, device: Device) -> Self {
        let t = |v: &[f32]| Tensor::from_slice(v).to_device(device);
        let actions = match action {
            ActionSpec::Discrete(_) => t(&s.actions).to_kind(Kind::Int64),
            ActionSpec::Continuous(d) => t(&s.actions).view([-1, d]),
        };
        Self {
            obs: t(&s.obs).view([-1, s.obs_dim as i64]),
            actions,
            log_probs: t(&s.log_probs),
            values: t(&s.values),
            advantages: t(&s.advantages),
            returns: t(&s.returns),
        }
    }

    /// The rows `idx`, or all rows (the same tensors) for `None`.
    fn rows(&self, idx: Option<&Tensor>) -> Self {
        let pick = |x: &Tensor| match idx {
            Some(idx) => x.index_select(0, idx),
            None => x.shallow_clone(),
        };
        Self {
            obs: pick(&self.obs),
            actions: pick(&self.actions),
            log_probs: pick(&self.log_probs),
            values: pick(&self.values),
            advantages: pick(&self.advantages),
            returns: pick(&self.returns),
        }
    }
}

/// The whole rollout of one iteration: every task's batch and every auxiliary loss's.
#[derive(Debug)]
pub struct Rollout {
    tasks: Vec<TaskBatch>,
    aux: Vec<AuxBatch>,
    /// The task whose rows each auxiliary loss reads.
    aux_tasks: Vec<usize>,
    minibatches: usize,
}

/// One minibatch: a share of every task's rows and each auxiliary loss's (its task's rows).
#[derive(Debug)]
pub struct Minibatch {
    /// Per task.
    pub tasks: Vec<TaskBatch>,
    /// Per auxiliary loss.
    pub aux: Vec<AuxBatch>,
}

/// One epoch's order of every task's rows (`None`: one minibatch, no shuffle needed).
#[derive(Debug)]
pub struct Order(Vec<Option<Tensor>>);

impl Rollout {
    /// The rollout in `storage` (one per task of `net`) and the batches of the auxiliary
    /// losses `aux`, on `net`'s device, to be cut into `minibatches` minibatches.
    pub fn new(
        net: &ActorCritic,
        storage: &[TaskStorage],
        aux: &[AuxLoss],
        minibatches: usize,
    ) -> Self {
        let device = net.device();
        let tasks = (storage.iter().zip(net.tasks()))
            .map(|(s, shape)| TaskBatch::new(s, shape.action, device))
            .collect();
        let aux_batches = (aux.iter())
            .map(|a| AuxBatch::new(a, &storage[a.task], net.tasks()[a.task].action, device))
            .collect();
        Self {
            tasks,
            aux: aux_batches,
            aux_tasks: aux.iter().map(|a| a.task).collect(),
            minibatches,
        }
    }

    /// Normalises every task's advantages over the whole rollout (what per-minibatch
    /// normalisation gives when there is a single minibatch, done once).
    pub fn normalize_advantages(&mut self) {
        for b in &mut self.tasks {
            b.advantages = normalize_advantages(&b.advantages);
        }
    }

    /// A fresh random order of every task's rows (one `randperm` per task, in task order);
    /// with one minibatch the order does not matter and nothing is drawn.
    pub fn shuffle(&self) -> Order {
        Order(
            (self.tasks.iter())
                .map(|b| {
                    let (rows, device) = (b.values.size()[0], b.values.device());
                    (self.minibatches > 1).then(|| Tensor::randperm(rows, (Kind::Int64, device)))
                })
                .collect(),
        )
    }

    /// Minibatch `m` of `order`: each task's `m`-th share of its rows.
    pub fn minibatch(&self, order: &Order, m: usize) -> Minibatch {
        let rows: Vec<Option<Tensor>> = (order.0.iter())
            .map(|perm| {
                let perm = perm.as_ref()?;
                let size = perm.size()[0] / self.minibatches as i64;
                Some(perm.narrow(0, m as i64 * size, size))
            })
            .collect();
        let tasks = (self.tasks.iter().zip(&rows))
            .map(|(b, idx)| b.rows(idx.as_ref()))
            .collect();
        let aux = (self.aux.iter().zip(&self.aux_tasks))
            .map(|(b, &task)| b.rows(rows[task].as_ref()))
            .collect();
        Minibatch { tasks, aux }
    }
}

impl Minibatch {
    /// The network's inputs: each task's observations, then each auxiliary loss's inputs.
    pub fn inputs(&self) -> Vec<Tensor> {
        let tasks = self.tasks.iter().map(|b| b.obs.shallow_clone());
        tasks
            .chain(self.aux.iter().map(|a| a.inputs.shallow_clone()))
            .collect()
    }

    /// The positive loss signal of each row of `G` that the loss-based weightings read: a
    /// task's critic loss `mean (V(s) − R)²` from the network's `values`, an auxiliary loss
    /// itself.
    pub fn signals(&self, values: &[Tensor], aux_losses: &[Tensor]) -> Vec<f64> {
        let critic = (self.tasks.iter().zip(values))
            .map(|(b, v)| (v - &b.returns).square().mean(Kind::Float));
        let all: Vec<Tensor> = critic
            .chain(aux_losses.iter().map(Tensor::shallow_clone))
            .collect();
        Tensor::stack(&all, 0)
            .to_kind(Kind::Double)
            .to_device(Device::Cpu)
            .try_into()
            .expect("a vector of losses")
    }
}
