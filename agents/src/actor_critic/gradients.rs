//! Per-task gradients of the actor-critic from one backward pass: the `[T, P]` matrix of the
//! shared weights' gradients (what gradient surgery combines) and each task's gradient of its
//! own weights, propagated by hand from the gradients at the heads.

use tch::{Kind, Tensor};

use super::*;

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
                let d_rows = &buffers.d_rows[t];
                let actor = [&slots[0], &slots[1], &d_rows[0]];
                policy.backward_into(&g.policy, &features[t], actor, false);
                // A shared critic adds its gradient to the actor's features.
                let (critic, shared) = match d_rows.get(1) {
                    Some(critic) => (critic, false),
                    None => (&d_rows[0], true),
                };
                let d_value = g.value.unsqueeze(-1);
                let critic = [&slots[2], &slots[3], critic];
                value.backward_into(&d_value, &critic_features[t], critic, shared);
                if let Some(slot) = slots.get(4) {
                    match &g.log_std {
                        Some(d) => slot.shallow_clone().copy_(d),
                        None => drop(slot.shallow_clone().zero_()),
                    }
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

    /// The gradients of the last [`ActorCritic::backward_into`], to be weighted and combined
    /// in place ([`crate::combine::Combiner::combine`]).
    pub fn gradients_mut(&mut self) -> &mut TaskGradients {
        &mut self.grads
    }
}
