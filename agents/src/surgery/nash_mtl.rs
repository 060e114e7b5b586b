//! Nash-MTL, "Multi-Task Learning as a Bargaining Game" (Navon et al., ICML 2022), Algorithm 1.
//!
//! The update `Σ_t α_t g_t` is the Nash bargaining solution: `α > 0` with `G α = 1/α`
//! elementwise (eq. 3 of the paper; `G` the Gramian), i.e. every task's directional derivative
//! `g_tᵀ(Jᵀα)` equals `1/α_t`. As torchjd (after the authors' code), `G` is first divided by its
//! Frobenius norm, and the result is scaled down to norm `max_norm` (default 1; 0: no limit)
//! when longer; the weights are recomputed every `update_weights_every` calls (default 1).
//!
//! The paper and torchjd approach the solution with a sequence of convex programs solved by
//! cvxpy/ECOS (20 iterations, stopping at `‖Gα − 1/α‖ < 1e-3`). Here the same equation is
//! solved exactly: it is the stationarity condition of the strictly convex
//! `½ αᵀGα − Σ_t log α_t`, minimised by damped Newton steps that keep `α > 0` (quadratic
//! convergence, `O(T³)` per step on the `[T, T]` Gramian). A ridge of `1e-8` on the
//! normalised `G` keeps the solution finite when `G` is singular (zero or opposite
//! gradients), where the equation has none.

use tch::Tensor;

use super::dual_cone::cholesky_solve;
use super::{combine, decode_state, Aggregator, GradMatrix, SurgeryError};
use crate::params::Params;

/// Nash-MTL with the exact Newton inner solver.
#[derive(Debug, Clone)]
pub struct NashMtl {
    max_norm: f64,
    update_weights_every: usize,
    step: usize,
    alpha: Vec<f64>,
    weights: Vec<f64>,
}

/// What Nash-MTL carries between calls: the call counter that decides when the weights are
/// recomputed, and the last bargaining solution (reused in between, and the solver's start).
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    step: u64,
    alpha: Vec<f64>,
}

impl NashMtl {
    /// Nash-MTL limiting the update's norm to `max_norm` (0: no limit) and recomputing the
    /// bargaining weights every `update_weights_every` calls.
    pub fn new(max_norm: f64, update_weights_every: usize) -> Self {
        Self {
            max_norm,
            update_weights_every: update_weights_every.max(1),
            step: 0,
            alpha: Vec::new(),
            weights: Vec::new(),
        }
    }

    pub(crate) fn from_params(p: &mut Params) -> Result<Self, SurgeryError> {
        let max_norm = p.get("max_norm", 1.0, "must be non-negative", |v| v >= 0.0)?;
        let every = p.count("update_weights_every", 1)?;
        Ok(Self::new(max_norm, every))
    }

    /// The solution `α > 0` of `G α = 1/α` for the row-major `G` of `tasks` tasks (with the
    /// `1e-8` ridge), by damped Newton from `start` (or ones).
    pub fn bargain(gram: &[f64], tasks: usize, start: Option<&[f64]>) -> Vec<f64> {
        let mut g = gram.to_vec();
        for t in 0..tasks {
            g[t * tasks + t] += 1e-8;
        }
        let objective = |a: &[f64]| -> f64 {
            let quad: f64 = (0..tasks)
                .map(|i| a[i] * (0..tasks).map(|k| g[i * tasks + k] * a[k]).sum::<f64>())
                .sum();
            0.5 * quad - a.iter().map(|x| x.ln()).sum::<f64>()
        };
        let mut alpha = match start {
            Some(s) if s.len() == tasks && s.iter().all(|&x| x > 0.0 && x.is_finite()) => {
                s.to_vec()
            }
            _ => vec![1.0; tasks],
        };
        for _ in 0..200 {
            let grad: Vec<f64> = (0..tasks)
                .map(|i| {
                    (0..tasks).map(|k| g[i * tasks + k] * alpha[k]).sum::<f64>() - 1.0 / alpha[i]
                })
                .collect();
            let mut hess = g.clone();
            for i in 0..tasks {
                hess[i * tasks + i] += 1.0 / (alpha[i] * alpha[i]);
            }
            let dir = cholesky_solve(hess, grad.iter().map(|x| -x).collect());
            let decrement: f64 = -grad.iter().zip(&dir).map(|(a, b)| a * b).sum::<f64>();
            if decrement < 1e-24 {
                break;
            }
            let mut t = 1.0;
            while alpha.iter().zip(&dir).any(|(a, d)| a + t * d <= 0.0) {
                t *= 0.5;
            }
            let f0 = objective(&alpha);
            loop {
                let next: Vec<f64> = alpha.iter().zip(&dir).map(|(a, d)| a + t * d).collect();
                if objective(&next) <= f0 - 0.25 * t * decrement || t < 1e-12 {
                    alpha = next;
                    break;
                }
                t *= 0.5;
            }
        }
        alpha
    }
}

impl Default for NashMtl {
    fn default() -> Self {
        Self::new(1.0, 1)
    }
}

impl Aggregator for NashMtl {
    fn name(&self) -> &'static str {
        "nash-mtl"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        let gram = g.gramian();
        if self.step.is_multiple_of(self.update_weights_every) || self.alpha.len() != tasks {
            let frobenius = gram.iter().map(|x| x * x).sum::<f64>().sqrt();
            let normalized: Vec<f64> = if frobenius > 0.0 {
                gram.iter().map(|x| x / frobenius).collect()
            } else {
                gram.to_vec()
            };
            let start = (self.alpha.len() == tasks).then_some(self.alpha.as_slice());
            self.alpha = Self::bargain(&normalized, tasks, start);
        }
        self.step += 1;
        let mut weights = self.alpha.clone();
        if self.max_norm > 0.0 {
            // ‖Σ α_t g_t‖² = αᵀ G α on the raw Gramian.
            let norm2: f64 = (0..tasks)
                .map(|i| {
                    weights[i]
                        * (0..tasks)
                            .map(|k| gram[i * tasks + k] * weights[k])
                            .sum::<f64>()
                })
                .sum();
            let norm = norm2.max(0.0).sqrt();
            if norm > self.max_norm {
                weights.iter_mut().for_each(|w| *w *= self.max_norm / norm);
            }
        }
        self.weights = weights;
        combine(&self.weights, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                step: self.step as u64,
                alpha: self.alpha.clone(),
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), SurgeryError> {
        let state: State = decode_state(self.name(), bytes)?;
        self.step = usize::try_from(state.step).map_err(|_| SurgeryError::State {
            aggregator: self.name().to_string(),
            reason: format!("step {} does not fit this machine's usize", state.step),
        })?;
        self.alpha = state.alpha;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surgery::gramian;
    use tch::{Device, Kind};

    #[test]
    fn the_weights_solve_the_bargaining_equation() {
        for (seed, tasks) in [(0, 1), (1, 2), (2, 3), (3, 7), (4, 20)] {
            tch::manual_seed(seed);
            let g = Tensor::randn([tasks, 30], (Kind::Double, Device::Cpu));
            let gram = gramian(&g);
            let t = tasks as usize;
            let frob = gram.iter().map(|x| x * x).sum::<f64>().sqrt();
            let normalized: Vec<f64> = gram.iter().map(|x| x / frob).collect();
            let alpha = NashMtl::bargain(&normalized, t, None);
            for i in 0..t {
                let g_alpha: f64 = (0..t).map(|k| normalized[i * t + k] * alpha[k]).sum();
                assert!(alpha[i] > 0.0);
                assert!(
                    (g_alpha - 1.0 / alpha[i]).abs() < 1e-6 / alpha[i],
                    "T={tasks} task {i}"
                );
            }
        }
    }

    #[test]
    fn the_update_is_limited_to_max_norm_and_every_task_improves() {
        tch::manual_seed(9);
        let g = Tensor::randn([5, 40], (Kind::Double, Device::Cpu)) * 10.0;
        let mut nash = NashMtl::default();
        let out = nash.aggregate(&crate::surgery::GradMatrix::from(&g));
        let norm = out.norm().double_value(&[]);
        assert!((norm - 1.0).abs() < 1e-9, "{norm}");
        // g_tᵀ d ∝ 1/α_t > 0: no task's loss increases to first order.
        let d = Vec::<f64>::try_from(g.matmul(&out)).unwrap();
        assert!(d.iter().all(|&x| x > 0.0), "{d:?}");
        // Without the limit, with zero and opposite rows, the result stays finite.
        let z = Tensor::from_slice(&[1.0f64, 2.0, -1.0, -2.0, 0.0, 0.0]).reshape([3, 2]);
        let out = NashMtl::new(0.0, 1).aggregate(&crate::surgery::GradMatrix::from(&z));
        assert!(Vec::<f64>::try_from(out)
            .unwrap()
            .iter()
            .all(|x| x.is_finite()));
    }
}
