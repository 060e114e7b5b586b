//! A fully connected layer with CleanRL's orthogonal initialisation (`layer_init`: orthogonal
//! weights with a gain, zero bias).

use tch::{nn, Tensor};

/// `y = x Wᵀ + b`, weights `[out, in]`.
#[derive(Debug)]
pub struct Linear {
    /// Weights `[out, in]`.
    pub weight: Tensor,
    /// Bias `[out]`.
    pub bias: Tensor,
}

impl Linear {
    /// A layer `inputs → outputs` under `path`, orthogonal with `gain`, zero bias.
    pub fn new(path: &nn::Path<'_>, inputs: i64, outputs: i64, gain: f64) -> Self {
        Self {
            weight: path.orthogonal("weight", &[outputs, inputs], gain),
            bias: path.zeros("bias", &[outputs]),
        }
    }

    /// `[out, in]`.
    pub(crate) fn shape(&self) -> [i64; 2] {
        let size = self.weight.size();
        [size[0], size[1]]
    }

    /// Number of parameters (weights and bias).
    pub(crate) fn numel(&self) -> i64 {
        (self.weight.numel() + self.bias.numel()) as i64
    }

    /// Applies the layer to `x` `[B, in]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}
