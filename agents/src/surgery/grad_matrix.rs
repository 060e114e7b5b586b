//! The per-task gradient matrix `G` of one learner step together with its Gramian `G Gᵀ`,
//! computed at most once and shared by everything that reads it: the task weighting, the
//! aggregator and the logged gradient statistics.

use std::cell::OnceCell;

use tch::{Kind, Tensor};

use super::gramian;

/// `G` (`[T, P]`, row `t` task `t`'s gradient of the shared weights) with its Gramian.
///
/// The Gramian is computed on first use ([`GradMatrix::gramian`]); weighting the rows by a
/// diagonal `D` ([`GradMatrix::scale_rows`]) scales `G` in place and turns a Gramian already
/// computed into `D (G Gᵀ) D` without a new `[T, P] × [P, T]` product.
#[derive(Debug)]
pub struct GradMatrix {
    grads: Tensor,
    gram: OnceCell<Vec<f64>>,
}

impl GradMatrix {
    /// The matrix of `grads` (`[T, P]`, shared: [`GradMatrix::scale_rows`] writes through it).
    pub fn new(grads: Tensor) -> Self {
        Self {
            grads,
            gram: OnceCell::new(),
        }
    }

    /// `G`, `[T, P]`.
    pub fn grads(&self) -> &Tensor {
        &self.grads
    }

    /// The number of tasks `T` (rows).
    pub fn tasks(&self) -> usize {
        self.grads.size()[0] as usize
    }

    /// `G Gᵀ` as row-major `[T, T]` `f64` values, computed on the first call.
    pub fn gramian(&self) -> &[f64] {
        self.gram.get_or_init(|| gramian(&self.grads))
    }

    /// The Gramian if something has already asked for it.
    pub fn gramian_if_computed(&self) -> Option<&[f64]> {
        self.gram.get().map(Vec::as_slice)
    }

    /// Scales row `t` of `G` by `w[t]` in place (`G ← D G` with `D = diag(w)`), and a
    /// Gramian already computed to `D (G Gᵀ) D`.
    ///
    /// # Panics
    ///
    /// If `w` does not hold one weight per row.
    pub fn scale_rows(&mut self, w: &[f64]) {
        let tasks = self.tasks();
        assert_eq!(w.len(), tasks, "{} weights for {tasks} rows", w.len());
        let column = Tensor::from_slice(w)
            .to_kind(Kind::Float)
            .to_device(self.grads.device())
            .unsqueeze(1);
        let mut grads = self.grads.shallow_clone();
        grads *= &column;
        if let Some(gram) = self.gram.get_mut() {
            for i in 0..tasks {
                for j in 0..tasks {
                    gram[i * tasks + j] *= w[i] * w[j];
                }
            }
        }
    }
}

impl From<Tensor> for GradMatrix {
    fn from(grads: Tensor) -> Self {
        Self::new(grads)
    }
}

impl From<&Tensor> for GradMatrix {
    /// The matrix of a shallow clone of `grads` (sharing its elements).
    fn from(grads: &Tensor) -> Self {
        Self::new(grads.shallow_clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Tensor {
        Tensor::from_slice(&[1.0f32, 2.0, 0.0, -1.0, 0.5, 3.0]).reshape([2, 3])
    }

    #[test]
    fn the_gramian_is_g_g_transpose_and_is_computed_once() {
        let g = GradMatrix::new(matrix());
        assert!(g.gramian_if_computed().is_none());
        assert_eq!(g.gramian(), &[5.0, 0.0, 0.0, 10.25]);
        assert_eq!(g.gramian_if_computed(), Some(&[5.0, 0.0, 0.0, 10.25][..]));
        assert!(std::ptr::eq(g.gramian(), g.gramian()));
    }

    #[test]
    fn scaling_rows_scales_g_in_place_and_the_gramian_as_d_gram_d() {
        let shared = matrix();
        let mut g = GradMatrix::new(shared.shallow_clone());
        g.gramian();
        g.scale_rows(&[2.0, 0.5]);
        let expected = Tensor::from_slice(&[2.0f32, 4.0, 0.0, -0.5, 0.25, 1.5]).reshape([2, 3]);
        assert!(shared.equal(&expected), "the caller's tensor is scaled too");
        let fresh = gramian(&expected);
        assert_eq!(g.tasks(), 2);
        for (a, b) in g.gramian().iter().zip(&fresh) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert_eq!(g.gramian().len(), 4);
    }

    #[test]
    fn scaling_before_the_gramian_is_asked_for_computes_it_from_the_scaled_rows() {
        let mut g = GradMatrix::new(matrix());
        g.scale_rows(&[0.0, 1.0]);
        assert_eq!(g.gramian(), &[0.0, 0.0, 0.0, 10.25]);
    }
}
