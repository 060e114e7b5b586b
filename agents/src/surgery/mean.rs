//! The mean of the task gradients (linear scalarisation with equal weights `1/T`).

use tch::Tensor;

use super::{Aggregator, GradMatrix};

/// `g = (1/T) Σ_t g_t`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mean;

impl Aggregator for Mean {
    fn name(&self) -> &'static str {
        "mean"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        grads.mean_dim(0, false, grads.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_rows() {
        let g = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 6.0]).reshape([2, 2]);
        let m =
            Vec::<f32>::try_from(Mean.aggregate(&crate::surgery::GradMatrix::from(&g))).unwrap();
        assert_eq!(m, vec![2.0, 4.0]);
    }
}
