//! ARML, "Auxiliary Task Reweighting for Minimum-data Learning" (Shi, Hoffman, Saenko,
//! Darrell & Xu, NeurIPS 2020), the weight objective of §3 as the authors' code
//! (github.com/bfshi/ARML_Auxiliary_Task_Reweighting, `arml_weight_loss`).
//!
//! The auxiliary weights `α ≥ 0` are chosen so that the weighted auxiliary gradients best
//! match the main task's gradient, in expectation over the parameters visited:
//!
//! `min_α E_θ ‖g_m(θ) − Σ_k α_k g_k(θ)‖²`  subject to  `α ≥ 0`, `Σ_k α_k = K`,
//!
//! with `K` the number of auxiliary tasks. The constraint is the paper's regulariser: it keeps
//! the weights from collapsing to 0 and fixes their scale (`constrained = 0` drops the sum
//! constraint, leaving non-negative least squares). The objective is the quadratic
//! `αᵀ A α − 2 bᵀα + c` with `A_kl = E[g_k·g_l]`, `b_k = E[g_m·g_k]`, `c = E‖g_m‖²`; the
//! expectation is an exponential moving average with decay `decay` (default 0.99, about the
//! last 100 steps; 0 solves each minibatch alone) of the per-step Gramian entries, started
//! at the first step's. The authors take one SGD step on `α` every 20 iterations followed by a
//! shift to `Σ α = K` and a clamp at 0; here the same objective is minimised exactly on the
//! constraint set each step (an active-set enumeration of the supports of `α`, exact for
//! `K ≤ 12`), which needs no step size. The paper's Langevin noise is added to the network's
//! parameter updates (to sample `θ`), not to `α`, and is not part of this weighting.
//! Main tasks keep weight 1; `g_m` is the sum of their gradients.
//! Diagnostics: `match_residual` (`‖g_m − Σ α_k g_k‖² / ‖g_m‖²` under the averaged statistics).

use super::roles::Split;
use super::{check, decode_state, Diagnostic, Role, Weighting, WeightingError, WeightingInput};
use crate::params::Params;

/// The most auxiliary tasks ARML's exact solver accepts.
pub const ARML_MAX_AUXILIARY: usize = 12;

/// ARML with exponentially averaged gradient statistics.
#[derive(Debug, Clone)]
pub struct Arml {
    split: Split,
    decay: f64,
    constrained: bool,
    /// Averaged `A` (row-major `[K, K]`), `b` (`[K]`) and `c`; `None` before the first step.
    stats: Option<(Vec<f64>, Vec<f64>, f64)>,
    dots: Vec<f64>,
    weights: Vec<f64>,
    diagnostics: [Diagnostic; 1],
}

/// What ARML carries between steps: the averaged statistics `A`, `b`, `c`.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    stats: Option<(Vec<f64>, Vec<f64>, f64)>,
}

impl Arml {
    /// ARML for tasks with `roles` (a main and at most [`ARML_MAX_AUXILIARY`] auxiliary
    /// tasks), averaging with decay `decay` (in `[0, 1)`), with the sum constraint
    /// `Σ α = K` if `constrained`.
    pub fn new(roles: &[Role], decay: f64, constrained: bool) -> Result<Self, WeightingError> {
        let split = Split::new("arml", roles)?;
        if split.aux.len() > ARML_MAX_AUXILIARY {
            return Err(WeightingError::TooManyAuxiliaryTasks {
                weighting: "arml".to_string(),
                count: split.aux.len(),
                max: ARML_MAX_AUXILIARY,
            });
        }
        let tasks = split.tasks;
        Ok(Self {
            split,
            decay,
            constrained,
            stats: None,
            dots: vec![0.0; tasks],
            weights: vec![1.0; tasks],
            diagnostics: [Diagnostic {
                name: "match_residual",
                task: None,
                value: 1.0,
            }],
        })
    }

    pub(crate) fn from_params(roles: &[Role], p: &mut Params) -> Result<Self, WeightingError> {
        let decay = p.get("decay", 0.99, "must be in [0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        let constrained = p.flag("constrained", true)?;
        Self::new(roles, decay, constrained)
    }

    /// Updates the averaged statistics from the row-major Gramian and solves for `α`.
    fn weigh(&mut self, gram: &[f64]) {
        let n = self.split.tasks;
        let main_norm2 = self.split.main_products(gram, &mut self.dots);
        let aux = &self.split.aux;
        let a: Vec<f64> = aux
            .iter()
            .flat_map(|&k| aux.iter().map(move |&l| gram[k * n + l]))
            .collect();
        let b: Vec<f64> = aux.iter().map(|&k| self.dots[k]).collect();
        let d = self.decay;
        let (a, b, c) = match self.stats.take() {
            None => (a, b, main_norm2),
            Some((ea, eb, ec)) => (
                ea.iter()
                    .zip(&a)
                    .map(|(x, y)| d * x + (1.0 - d) * y)
                    .collect(),
                eb.iter()
                    .zip(&b)
                    .map(|(x, y)| d * x + (1.0 - d) * y)
                    .collect(),
                d * ec + (1.0 - d) * main_norm2,
            ),
        };
        let total = self.constrained.then_some(aux.len() as f64);
        let alpha = solve(&a, &b, total);
        let fit = objective(&a, &b, &alpha) + c;
        self.diagnostics[0].value = if c > 0.0 { fit.max(0.0) / c } else { 0.0 };
        for (&k, &x) in aux.iter().zip(&alpha) {
            self.weights[k] = x;
        }
        self.stats = Some((a, b, c));
    }
}

impl Weighting for Arml {
    fn name(&self) -> &'static str {
        "arml"
    }

    fn weights(&mut self, input: &WeightingInput<'_>) -> &[f64] {
        check(input, self.split.tasks, "arml", true);
        self.weigh(input.grads.gramian());
        &self.weights
    }

    fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                stats: self.stats.clone(),
            },
        )
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), WeightingError> {
        let k = self.split.aux.len();
        let state: State = decode_state(self.name(), bytes, |s: &State| match &s.stats {
            None => Ok(()),
            Some((a, b, _)) => {
                crate::state::expect_len("averaged A", a, k * k)?;
                crate::state::expect_len("averaged b", b, k)
            }
        })?;
        self.stats = state.stats;
        Ok(())
    }
}

/// `αᵀAα − 2bᵀα` for row-major `A` (`[K, K]`).
fn objective(a: &[f64], b: &[f64], alpha: &[f64]) -> f64 {
    let k = b.len();
    let quad: f64 = (0..k)
        .map(|i| alpha[i] * (0..k).map(|j| a[i * k + j] * alpha[j]).sum::<f64>())
        .sum();
    quad - 2.0 * b.iter().zip(alpha).map(|(x, y)| x * y).sum::<f64>()
}

/// `argmin αᵀAα − 2bᵀα` over `α ≥ 0` (and `Σ α = total` if given), for a positive
/// semi-definite row-major `A` of `K ≤ 12` rows: every support `S` of `α` is tried, the
/// stationary point on its face solved from the KKT system (skipped when singular or
/// infeasible), and the best kept. The optimum of a convex quadratic on a polytope is the
/// stationary point of some face, so the best feasible one is the optimum.
pub(crate) fn solve(a: &[f64], b: &[f64], total: Option<f64>) -> Vec<f64> {
    let k = b.len();
    let scale = a
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    let mut best = match total {
        // Feasible fallback: the sum spread evenly.
        Some(t) => vec![t / k as f64; k],
        None => vec![0.0; k],
    };
    let mut best_value = objective(a, b, &best);
    for mask in 1u32..(1 << k) {
        let support: Vec<usize> = (0..k).filter(|&i| mask >> i & 1 == 1).collect();
        let m = support.len();
        let size = m + usize::from(total.is_some());
        // [A_SS 1; 1ᵀ 0] [α_S; λ] = [b_S; total]  (or A_SS α_S = b_S).
        let mut system = vec![0.0; size * (size + 1)];
        for (r, &i) in support.iter().enumerate() {
            for (c, &j) in support.iter().enumerate() {
                system[r * (size + 1) + c] = a[i * k + j] / scale;
            }
            system[r * (size + 1) + size] = b[i] / scale;
        }
        if let Some(t) = total {
            for r in 0..m {
                system[r * (size + 1) + m] = 1.0;
                system[m * (size + 1) + r] = 1.0;
            }
            system[m * (size + 1) + size] = t;
        }
        let Some(x) = gauss(&mut system, size) else {
            continue;
        };
        if x[..m]
            .iter()
            .any(|&v| v < -1e-12 * (1.0 + total.unwrap_or(0.0)))
        {
            continue;
        }
        let mut alpha = vec![0.0; k];
        for (r, &i) in support.iter().enumerate() {
            alpha[i] = x[r].max(0.0);
        }
        let value = objective(a, b, &alpha);
        if value < best_value {
            best_value = value;
            best = alpha;
        }
    }
    best
}

/// Solves the `n × n` system stored row-major with its right-hand side as column `n` of
/// `system` (`[n, n + 1]`) by Gaussian elimination with partial pivoting; `None` if singular.
fn gauss(system: &mut [f64], n: usize) -> Option<Vec<f64>> {
    let w = n + 1;
    let scale = system.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| {
            system[i * w + col]
                .abs()
                .total_cmp(&system[j * w + col].abs())
        })?;
        if system[pivot * w + col].abs() <= 1e-12 * scale {
            return None;
        }
        for c in 0..w {
            system.swap(col * w + c, pivot * w + c);
        }
        for r in col + 1..n {
            let f = system[r * w + col] / system[col * w + col];
            for c in col..w {
                system[r * w + c] -= f * system[col * w + c];
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let rest: f64 = (r + 1..n).map(|c| system[r * w + c] * x[c]).sum();
        x[r] = (system[r * w + n] - rest) / system[r * w + r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::rows;
    use super::*;

    const ROLES: [Role; 3] = [Role::Main, Role::Auxiliary, Role::Auxiliary];

    fn arml(decay: f64, constrained: bool) -> Arml {
        Arml::new(&ROLES, decay, constrained).unwrap()
    }

    fn step(a: &mut Arml, main: [f32; 3], g1: [f32; 3], g2: [f32; 3]) -> Vec<f64> {
        a.weights(&WeightingInput {
            losses: &[1.0; 3],
            grads: &crate::surgery::GradMatrix::from(&rows(&[&main, &g1, &g2])),
            lr: 0.1,
        })
        .to_vec()
    }

    fn close(got: &[f64], want: &[f64], tol: f64) {
        assert!(
            got.iter().zip(want).all(|(a, b)| (a - b).abs() < tol),
            "{got:?} vs {want:?}"
        );
    }

    // Independent, non-orthogonal auxiliary directions.
    const G1: [f32; 3] = [1.0, 0.0, 0.0];
    const G2: [f32; 3] = [0.5, 1.0, 1.0];

    fn mix(x: f32, y: f32) -> [f32; 3] {
        [
            x * G1[0] + y * G2[0],
            x * G1[1] + y * G2[1],
            x * G1[2] + y * G2[2],
        ]
    }

    #[test]
    fn recovers_known_mixing_weights_without_the_sum_constraint() {
        let w = step(&mut arml(0.0, false), mix(0.7, 0.3), G1, G2);
        close(&w, &[1.0, 0.7, 0.3], 1e-6);
        assert!(arml(0.0, false).diagnostics()[0].value >= 0.0);
    }

    #[test]
    fn recovers_mixing_weights_that_satisfy_the_papers_constraint() {
        // Σ α = K = 2 holds for (1.4, 0.6): the constrained optimum is exact.
        let mut a = arml(0.0, true);
        close(&step(&mut a, mix(1.4, 0.6), G1, G2), &[1.0, 1.4, 0.6], 1e-6);
        assert!(a.diagnostics()[0].value < 1e-9);
        // (0.7, 0.3) with orthonormal auxiliaries: the closest point with Σ α = 2 is
        // (0.7, 0.3) + ½ (1, 1).
        let w = step(&mut arml(0.0, true), [0.7, 0.3, 0.0], G1, [0.0, 1.0, 0.0]);
        close(&w, &[1.0, 1.2, 0.8], 1e-6);
    }

    #[test]
    fn weights_stay_non_negative() {
        // g_m = −g1 + g2 (orthonormal): α1 would be −1; it is clipped to 0.
        let w = step(&mut arml(0.0, false), [-1.0, 1.0, 0.0], G1, [0.0, 1.0, 0.0]);
        close(&w, &[1.0, 0.0, 1.0], 1e-6);
        let w = step(&mut arml(0.0, true), [-1.0, 1.0, 0.0], G1, [0.0, 1.0, 0.0]);
        close(&w, &[1.0, 0.0, 2.0], 1e-6);
    }

    #[test]
    fn the_expectation_over_steps_is_averaged() {
        // Minibatch gradients alternate between mixes (0.9, 0.1) and (0.5, 0.5): their mean
        // is (0.7, 0.3), which the averaged statistics recover and a per-batch solve does not.
        let mut averaged = arml(0.99, false);
        let mut per_batch = arml(0.0, false);
        let (mut w, mut v) = (vec![], vec![]);
        for i in 0..2000 {
            let g = if i % 2 == 0 {
                mix(0.9, 0.1)
            } else {
                mix(0.5, 0.5)
            };
            w = step(&mut averaged, g, G1, G2);
            v = step(&mut per_batch, g, G1, G2);
        }
        close(&w, &[1.0, 0.7, 0.3], 0.01);
        close(&v, &[1.0, 0.5, 0.5], 1e-6);
    }

    #[test]
    fn collinear_auxiliaries_still_give_an_optimum() {
        // g1 = g2: any split of 1 between them is optimal; the result must be one.
        let w = step(&mut arml(0.0, false), G1, G1, G1);
        assert!(
            (w[1] + w[2] - 1.0).abs() < 1e-6 && w[1] >= 0.0 && w[2] >= 0.0,
            "{w:?}"
        );
    }

    #[test]
    fn the_solver_matches_a_brute_force_search() {
        // A random PSD problem with K = 3 and the sum constraint, against a grid search.
        let m = [
            [1.0, 0.2, -0.3],
            [0.4, 1.0, 0.1],
            [0.0, -0.5, 0.8],
            [0.3, 0.3, 0.3],
        ];
        let a: Vec<f64> = (0..9)
            .map(|e| (0..4).map(|r| m[r][e / 3] * m[r][e % 3]).sum())
            .collect();
        let b = [0.3, -0.2, 0.5];
        let alpha = solve(&a, &b, Some(3.0));
        assert!((alpha.iter().sum::<f64>() - 3.0).abs() < 1e-9);
        let mut best = f64::INFINITY;
        for i in 0..=300 {
            for j in 0..=(300 - i) {
                let x = [
                    i as f64 / 100.0,
                    j as f64 / 100.0,
                    (300 - i - j) as f64 / 100.0,
                ];
                best = best.min(objective(&a, &b, &x));
            }
        }
        let got = objective(&a, &b, &alpha);
        assert!(got <= best + 1e-12, "{got} vs grid {best}");
    }
}
