//! GradVac, "Gradient Vaccine: Investigating and Improving Multi-task Optimization in
//! Massively Multilingual Models" (Wang et al., ICLR 2021), Algorithm 2, as torchjd's
//! `GradVac` (whole-model grouping).
//!
//! For each task `i`, and each other task `j` in random order, the cosine
//! `φ_ij = cos(g_i^PC, g_j)` of the (already corrected) `g_i^PC` with the original `g_j` is
//! compared with an EMA target `φ̂_ij`. If `φ_ij < φ̂_ij`, `g_i^PC` gets
//! `‖g_i^PC‖ (φ̂_ij √(1−φ_ij²) − φ_ij √(1−φ̂_ij²)) / (‖g_j‖ √(1−φ̂_ij²)) · g_j` (eq. 3), which
//! raises the cosine to `φ̂_ij`; then `φ̂_ij ← (1−β) φ̂_ij + β φ_ij` (eq. 4). The update is
//! `Σ_i g_i^PC`. The targets start at 0 (so the first call is PCGrad) and persist between
//! calls (reset when `T` changes). Defaults as torchjd: `β = 0.5`, `eps = 1e-8` added to the
//! denominators; like PCGrad here, it works on `[T, T]` coefficients through the Gramian.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use tch::Tensor;

use super::{combine, decode_state, Aggregator, GradMatrix, SurgeryError};
use crate::params::Params;

/// GradVac with EMA decay `beta`.
#[derive(Debug, Clone)]
pub struct GradVac {
    beta: f64,
    eps: f64,
    rng: Pcg64,
    /// `φ̂`, row-major `[T, T]`.
    targets: Vec<f64>,
    weights: Vec<f64>,
}

/// What GradVac carries between calls: the generator of its task orders and the EMA targets.
#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    rng: Pcg64,
    targets: Vec<f64>,
}

impl GradVac {
    /// GradVac with EMA decay `beta`, denominator guard `eps` and random orders from `seed`.
    pub fn new(beta: f64, eps: f64, seed: u64) -> Self {
        Self {
            beta,
            eps,
            rng: Pcg64::seed_from_u64(seed),
            targets: Vec::new(),
            weights: Vec::new(),
        }
    }

    pub(crate) fn from_params(p: &mut Params) -> Result<Self, SurgeryError> {
        let beta = p.get("beta", 0.5, "must be in [0, 1]", |v| {
            (0.0..=1.0).contains(&v)
        })?;
        let eps = p.get("eps", 1e-8, "must be non-negative", |v| v >= 0.0)?;
        Ok(Self::new(beta, eps, 0))
    }

    /// The weights `w` with `Σ_i g_i^PC = Σ_k w_k g_k`, updating the targets, from the
    /// row-major Gramian of `T` tasks.
    pub fn weights(&mut self, gram: &[f64], tasks: usize) -> Vec<f64> {
        if self.targets.len() != tasks * tasks {
            self.targets = vec![0.0; tasks * tasks];
        }
        let mut total = vec![0.0; tasks];
        for i in 0..tasks {
            let mut coef = vec![0.0; tasks];
            coef[i] = 1.0;
            // cg_k = g_i^PC · g_k
            let mut cg: Vec<f64> = (0..tasks).map(|k| gram[i * tasks + k]).collect();
            let mut others: Vec<usize> = (0..tasks).filter(|&j| j != i).collect();
            others.shuffle(&mut self.rng);
            for j in others {
                let norm_i = coef
                    .iter()
                    .zip(&cg)
                    .map(|(c, d)| c * d)
                    .sum::<f64>()
                    .max(0.0)
                    .sqrt();
                let norm_j = gram[j * tasks + j].max(0.0).sqrt();
                let phi = cg[j] / (norm_i * norm_j + self.eps);
                let target = self.targets[i * tasks + j];
                if phi < target {
                    let s_phi = (1.0 - phi * phi).max(0.0).sqrt();
                    let s_target = (1.0 - target * target).max(0.0).sqrt();
                    let w =
                        norm_i * (target * s_phi - phi * s_target) / (norm_j * s_target + self.eps);
                    coef[j] += w;
                    for (k, c) in cg.iter_mut().enumerate() {
                        *c += w * gram[j * tasks + k];
                    }
                }
                self.targets[i * tasks + j] = (1.0 - self.beta) * target + self.beta * phi;
            }
            total.iter_mut().zip(&coef).for_each(|(t, c)| *t += c);
        }
        total
    }
}

impl Default for GradVac {
    fn default() -> Self {
        Self::new(0.5, 1e-8, 0)
    }
}

impl Aggregator for GradVac {
    fn name(&self) -> &'static str {
        "gradvac"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let tasks = grads.size()[0] as usize;
        self.weights = self.weights(g.gramian(), tasks);
        combine(&self.weights, grads)
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = Pcg64::seed_from_u64(seed);
    }

    fn save_state(&self) -> Vec<u8> {
        crate::state::encode(
            self.name(),
            &State {
                rng: self.rng.clone(),
                targets: self.targets.clone(),
            },
        )
    }

    /// The targets of any number of tasks load: a different `T` resets them at the next
    /// call, as it would have without the resume.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), SurgeryError> {
        let state: State = decode_state(self.name(), bytes)?;
        self.rng = state.rng;
        self.targets = state.targets;
        Ok(())
    }

    fn task_weights(&self) -> Option<&[f64]> {
        Some(&self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surgery::gramian;
    use crate::surgery::PcGrad;
    use tch::{Device, Kind};

    fn vec(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t).unwrap()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < tol)
    }

    #[test]
    fn first_call_at_two_tasks_is_pcgrad_and_the_targets_move() {
        let g = Tensor::from_slice(&[1.0f64, 0.0, -1.0, 1.0]).reshape([2, 2]);
        let mut vac = GradVac::default();
        let out = vec(&vac.aggregate(&crate::surgery::GradMatrix::from(&g)));
        assert!(
            close(
                &out,
                &vec(&PcGrad::new(0).aggregate(&crate::surgery::GradMatrix::from(&g))),
                1e-7
            ),
            "{out:?}"
        );
        // φ = cos = -1/√2 each way, so φ̂ = β φ.
        let phi = -1.0 / 2f64.sqrt();
        assert!((vac.targets[1] - 0.5 * phi).abs() < 1e-7);
        assert!((vac.targets[2] - 0.5 * phi).abs() < 1e-7);
    }

    #[test]
    fn the_correction_raises_the_cosine_to_the_target() {
        // Target 0.5 for (0, 1); task 1's target -1 is never undercut, so g_1 stays as it is
        // and the weights are (1, 1 + w): g_0^PC = g_0 + w g_1 must have cos(g_0^PC, g_1) = 0.5.
        let g = Tensor::from_slice(&[1.0f64, 0.0, -1.0, 1.0]).reshape([2, 2]);
        let mut vac = GradVac::new(0.5, 0.0, 0);
        vac.targets = vec![0.0, 0.5, -1.0, 0.0];
        let weights = vac.weights(&gramian(&g), 2);
        assert_eq!(weights[0], 1.0);
        let w = weights[1] - 1.0;
        let pc = [1.0 - w, w];
        let cos = (-pc[0] + pc[1]) / ((pc[0] * pc[0] + pc[1] * pc[1]).sqrt() * 2f64.sqrt());
        assert!((cos - 0.5).abs() < 1e-12, "{cos}");
    }

    #[test]
    fn non_conflicting_gradients_above_their_targets_are_summed() {
        tch::manual_seed(0);
        let g = Tensor::rand([4, 6], (Kind::Double, Device::Cpu));
        let mut vac = GradVac::default();
        for _ in 0..3 {
            let out = vec(&vac.aggregate(&crate::surgery::GradMatrix::from(&g)));
            let sum = vec(&g.sum_dim_intlist(0, false, Kind::Double));
            assert!(close(&out, &sum, 1e-9));
        }
    }
}
