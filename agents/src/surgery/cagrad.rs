//! CAGrad, "Conflict-Averse Gradient Descent for Multi-task Learning" (Liu et al., NeurIPS
//! 2021), Algorithm 1, as torchjd's `CAGrad`.
//!
//! The update maximises the worst task's improvement in a ball around the mean gradient `g₀`:
//! `max_d min_t g_tᵀd` s.t. `‖d − g₀‖ ≤ c‖g₀‖`. Its dual (eq. 4 of the paper) is
//! `min_{w ∈ Δ} g_wᵀg₀ + c‖g₀‖ ‖g_w‖` with `g_w = Σ_t w_t g_t`, and the update is
//! `d = g₀ + (c‖g₀‖ / ‖g_w‖) g_w`. Everything is a function of the Gramian: as torchjd, the
//! dual runs on `G / tr(G)` (all zero if `tr(G) < norm_eps`) and the update is zero when
//! `‖g_w‖ < norm_eps` on that scale. Defaults `c = 0.5` (the paper's and torchjd's default
//! setting), `norm_eps = 1e-4`. Like torchjd, and unlike the authors' code (which divides by
//! `1 + c²`), the update is not rescaled; `c = 0` gives the mean.
//!
//! The dual is solved by accelerated projected gradient on the simplex (FISTA with
//! backtracking and restarts), where torchjd calls Clarabel
//! through cvxpy; the cost is an inner solver of `O(T²)` per iteration, independent of `P`.

use tch::Tensor;

use super::{combine, Aggregator, GradMatrix, SurgeryError};
use crate::params::Params;

/// CAGrad with radius scale `c`.
#[derive(Debug, Clone)]
pub struct CaGrad {
    c: f64,
    norm_eps: f64,
    weights: Vec<f64>,
}

impl CaGrad {
    /// CAGrad with ball radius `c‖g₀‖` and the zero-norm threshold `norm_eps`.
    pub fn new(c: f64, norm_eps: f64) -> Self {
        Self {
            c,
            norm_eps,
            weights: Vec::new(),
        }
    }

    pub(crate) fn from_params(p: &mut Params) -> Result<Self, SurgeryError> {
        let c = p.get("c", 0.5, "must be non-negative", |v| v >= 0.0)?;
        let norm_eps = p.get("norm_eps", 1e-4, "must be non-negative", |v| v >= 0.0)?;
        Ok(Self::new(c, norm_eps))
    }

    /// The weights `1/T + (c‖g₀‖ / ‖g_w‖) w`, from the row-major Gramian of `tasks` tasks.
    pub fn weights(&self, gram: &[f64], tasks: usize) -> Vec<f64> {
        let trace: f64 = (0..tasks).map(|t| gram[t * tasks + t]).sum();
        let g: Vec<f64> = if trace < self.norm_eps {
            vec![0.0; gram.len()]
        } else {
            gram.iter().map(|x| x / trace).collect()
        };
        let m = tasks as f64;
        let mul = |w: &[f64]| -> Vec<f64> {
            (0..tasks)
                .map(|i| (0..tasks).map(|k| g[i * tasks + k] * w[k]).sum())
                .collect()
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mean = vec![1.0 / m; tasks];
        let b = mul(&mean);
        let sqrt_phi = self.c * dot(&mean, &b).max(0.0).sqrt();
        let w = minimise_on_simplex(tasks, |w| {
            let gw = mul(w);
            let norm = dot(w, &gw).max(0.0).sqrt();
            let value = dot(&b, w) + sqrt_phi * norm;
            let grad = (0..tasks)
                .map(|i| {
                    b[i] + if norm > 0.0 {
                        sqrt_phi * gw[i] / norm
                    } else {
                        0.0
                    }
                })
                .collect();
            (value, grad)
        });
        let gw_norm = dot(&w, &mul(&w)).max(0.0).sqrt();
        if gw_norm >= self.norm_eps {
            w.iter().map(|x| 1.0 / m + sqrt_phi / gw_norm * x).collect()
        } else {
            vec![0.0; tasks]
        }
    }
}

impl Default for CaGrad {
    fn default() -> Self {
        Self::new(0.5, 1e-4)
    }
}

impl Aggregator for CaGrad {
    fn name(&self) -> &'static str {
        "cagrad"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        self.weights = self.weights(g.gramian(), tasks);
        combine(&self.weights, grads)
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}

/// The minimiser over the probability simplex of a convex `f` (value and gradient), by FISTA
/// with backtracking and function-value restarts, from the centre; at most 1000 iterations
/// (on the fixtures the result no longer changes after a few hundred).
fn minimise_on_simplex(n: usize, f: impl Fn(&[f64]) -> (f64, Vec<f64>)) -> Vec<f64> {
    let mut x = vec![1.0 / n as f64; n];
    let mut y = x.clone();
    let mut fx = f(&x).0;
    let mut step = 1.0;
    let mut k = 1.0f64;
    for _ in 0..1_000 {
        let (fy, gy) = f(&y);
        let mut next;
        loop {
            let z: Vec<f64> = y.iter().zip(&gy).map(|(a, g)| a - step * g).collect();
            next = project_simplex(&z);
            let d: Vec<f64> = next.iter().zip(&y).map(|(a, b)| a - b).collect();
            let bound = fy
                + gy.iter().zip(&d).map(|(g, d)| g * d).sum::<f64>()
                + d.iter().map(|d| d * d).sum::<f64>() / (2.0 * step);
            if f(&next).0 <= bound + 1e-15 || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        let fnext = f(&next).0;
        let moved = next
            .iter()
            .zip(&x)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        if fnext > fx {
            // Restart the momentum from the better point.
            k = 1.0;
            y = x.clone();
            continue;
        }
        let k_next = (1.0 + (1.0 + 4.0 * k * k).sqrt()) / 2.0;
        y = next
            .iter()
            .zip(&x)
            .map(|(a, b)| a + (k - 1.0) / k_next * (a - b))
            .collect();
        k = k_next;
        x = next;
        fx = fnext;
        if moved < 1e-12 {
            break;
        }
        step *= 1.1;
    }
    x
}

/// The Euclidean projection of `y` onto the probability simplex (sort-based).
fn project_simplex(y: &[f64]) -> Vec<f64> {
    let mut sorted = y.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut sum = 0.0;
    let mut theta = 0.0;
    for (i, &s) in sorted.iter().enumerate() {
        sum += s;
        let t = (sum - 1.0) / (i + 1) as f64;
        if s - t > 0.0 {
            theta = t;
        }
    }
    y.iter().map(|v| (v - theta).max(0.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surgery::Mean;
    use tch::{Device, Kind};

    #[test]
    fn c_zero_is_the_mean() {
        tch::manual_seed(4);
        let g = Tensor::randn([5, 12], (Kind::Double, Device::Cpu));
        let out = CaGrad::new(0.0, 1e-4).aggregate(&crate::surgery::GradMatrix::from(&g));
        let mean = Mean.aggregate(&crate::surgery::GradMatrix::from(&g));
        assert!(f64::try_from((out - mean).abs().max()).unwrap() < 1e-12);
    }

    #[test]
    fn the_worst_task_improves_at_least_as_much_as_with_the_mean() {
        // The primal objective: min_t g_tᵀd is maximised over the ball, which holds g₀.
        for seed in 0..5 {
            tch::manual_seed(seed);
            let g = Tensor::randn([4, 6], (Kind::Double, Device::Cpu));
            let d = CaGrad::default().aggregate(&crate::surgery::GradMatrix::from(&g));
            let mean = Mean.aggregate(&crate::surgery::GradMatrix::from(&g));
            let worst = |v: &Tensor| f64::try_from(g.matmul(v).min()).unwrap();
            assert!(worst(&d) >= worst(&mean) - 1e-9, "seed {seed}");
        }
    }
}
