//! The plain sum of the task gradients: what one backward pass of `Σ_t L_t` gives.

use tch::Tensor;

use super::{Aggregator, GradMatrix};

/// `g = Σ_t g_t` — no surgery; the baseline every other method is compared with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum;

impl Aggregator for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }

    fn aggregate(&mut self, g: &GradMatrix) -> Tensor {
        let grads = g.grads();
        // One task: its row as it is (a reduction over one row costs more than the view).
        if grads.size()[0] == 1 {
            return grads.squeeze_dim(0);
        }
        grads.sum_dim_intlist(0, false, grads.kind())
    }
}
