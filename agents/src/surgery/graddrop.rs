//! GradDrop, "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout"
//! (Chen et al., NeurIPS 2020), Algorithm 1 lines 10–15, as torchjd's `GradDrop` (identity
//! `f`, no leak).
//!
//! Per parameter `j`, the positive sign purity `P_j = ½ (1 + Σ_t g_tj / Σ_t |g_tj|)` (eq. 1) is
//! compared with a uniform draw `U_j`: if `P_j > U_j` only the positive components `g_tj > 0`
//! are kept, if `P_j < U_j` only the negative ones. With `pos_j = Σ_t max(g_tj, 0)` and
//! `neg_j = Σ_t min(g_tj, 0)`, `P_j = pos_j / (pos_j − neg_j)` and the update is
//! `pos_j [P_j > U_j] + neg_j [P_j < U_j]`: `O(T P)` work and `O(P)` extra memory. Each
//! coordinate is, in expectation, the plain sum (`E = pos_j P_j + neg_j (1 − P_j)`).
//!
//! The draws `U` come from libtorch's generator on the gradients' device (seeded by the trainer
//! with `tch::manual_seed`), so that no `P`-sized buffer crosses devices.

use tch::Tensor;

use super::{Aggregator, GradMatrix};

/// GradDrop without leak.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradDrop;

impl Aggregator for GradDrop {
    fn name(&self) -> &'static str {
        "graddrop"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        let kind = grads.kind();
        let pos = grads.clamp_min(0.0).sum_dim_intlist(0, false, kind);
        let neg = grads.clamp_max(0.0).sum_dim_intlist(0, false, kind);
        // NaN where every component is zero: then neither comparison holds and the update is 0.
        let purity = &pos / (&pos - &neg);
        let u = Tensor::rand_like(&purity);
        let keep_pos = purity.gt_tensor(&u).to_kind(kind);
        let keep_neg = purity.lt_tensor(&u).to_kind(kind);
        pos * keep_pos + neg * keep_neg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn each_coordinate_is_one_signs_sum_and_the_sum_in_expectation() {
        tch::manual_seed(2);
        let g = Tensor::from_slice(&[
            1.0f64, -2.0, 3.0, 0.0, 0.5, 1.0, -1.0, 0.0, -0.5, 1.0, 1.0, 0.0,
        ])
        .reshape([3, 4]);
        let pos = [1.5, 2.0, 4.0, 0.0];
        let neg = [-0.5, -2.0, -1.0, 0.0];
        let draws = 20_000;
        let mut mean = [0.0; 4];
        for _ in 0..draws {
            let out =
                Vec::<f64>::try_from(GradDrop.aggregate(&crate::surgery::GradMatrix::from(&g)))
                    .unwrap();
            for j in 0..4 {
                assert!(out[j] == pos[j] || out[j] == neg[j], "{out:?}");
                mean[j] += out[j] / draws as f64;
            }
        }
        // E = pos + neg = the column sums (1, 0, 3, 0), within sampling error.
        let sum = [1.0, 0.0, 3.0, 0.0];
        for j in 0..4 {
            assert!((mean[j] - sum[j]).abs() < 0.05, "{mean:?}");
        }
    }

    #[test]
    fn agreeing_signs_are_summed_unchanged() {
        let g = Tensor::rand([4, 50], (Kind::Float, Device::Cpu)) - 2.0;
        let out = GradDrop.aggregate(&crate::surgery::GradMatrix::from(&g));
        let sum = g.sum_dim_intlist(0, false, Kind::Float);
        assert!(f64::try_from((out - sum).abs().max()).unwrap() < 1e-5);
    }
}
