//! One tanh MLP over task-grouped rows: a stem per task, then trunk layers shared by all tasks.
//! It records what each shared layer saw, from which per-task weight gradients follow.

use tch::{nn, Tensor};

use crate::linear::Linear;

/// Per-task stems into a shared trunk.
#[derive(Debug)]
pub(crate) struct Tower {
    stems: Vec<Linear>,
    trunk: Vec<Linear>,
}

/// The inputs and pre-activations of the shared layers on one batch, and its task grouping.
#[derive(Debug)]
pub(crate) struct TowerTrace {
    inputs: Vec<Tensor>,
    pre_activations: Vec<Tensor>,
    rows: Vec<i64>,
}

impl TowerTrace {
    /// Input `[B, in]` of each shared layer.
    pub(crate) fn layer_inputs(&self) -> &[Tensor] {
        &self.inputs
    }

    /// Pre-activation `[B, out]` of each shared layer.
    pub(crate) fn pre_activations(&self) -> impl Iterator<Item = &Tensor> {
        self.pre_activations.iter()
    }

    /// Rows of each task in the batch.
    pub(crate) fn rows(&self) -> &[i64] {
        &self.rows
    }
}

impl Tower {
    /// Stems `obs_dims[t] → hidden[0]`, trunk `hidden[i-1] → hidden[i]`, gain √2.
    pub(crate) fn new(path: &nn::Path<'_>, obs_dims: &[i64], hidden: &[i64]) -> Self {
        let gain = std::f64::consts::SQRT_2;
        let stems = obs_dims
            .iter()
            .enumerate()
            .map(|(t, &d)| Linear::new(&(path / format!("stem{t}")), d, hidden[0], gain))
            .collect();
        let trunk = hidden
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(&(path / format!("trunk{i}")), w[0], w[1], gain))
            .collect();
        Self { stems, trunk }
    }

    /// Features `[B_t, width]` per task, and the trace of the shared layers.
    pub(crate) fn forward(&self, obs: &[Tensor]) -> (Vec<Tensor>, TowerTrace) {
        let rows: Vec<i64> = obs.iter().map(|o| o.size()[0]).collect();
        let stemmed: Vec<Tensor> = obs
            .iter()
            .zip(&self.stems)
            .map(|(o, s)| s.forward(o).tanh())
            .collect();
        // One task needs no concatenation and no split (the common single-task case).
        let mut h = if stemmed.len() == 1 {
            stemmed[0].shallow_clone()
        } else {
            Tensor::cat(&stemmed, 0)
        };
        let mut inputs = Vec::with_capacity(self.trunk.len());
        let mut pre_activations = Vec::with_capacity(self.trunk.len());
        for layer in &self.trunk {
            let z = layer.forward(&h);
            let next = z.tanh();
            inputs.push(std::mem::replace(&mut h, next));
            pre_activations.push(z);
        }
        let features = if rows.len() == 1 {
            vec![h]
        } else {
            h.split_with_sizes(&rows, 0)
        };
        (
            features,
            TowerTrace {
                inputs,
                pre_activations,
                rows,
            },
        )
    }

    pub(crate) fn shared_params(&self) -> Vec<&Tensor> {
        self.trunk
            .iter()
            .flat_map(|l| [&l.weight, &l.bias])
            .collect()
    }

    pub(crate) fn stem_params(&self, t: usize) -> Vec<&Tensor> {
        vec![&self.stems[t].weight, &self.stems[t].bias]
    }

    /// The trunk's weights and biases, and each task's stem weight and bias, mutably.
    pub(crate) fn params_mut(&mut self) -> (Vec<&mut Tensor>, Vec<Vec<&mut Tensor>>) {
        let shared = self
            .trunk
            .iter_mut()
            .flat_map(|l| [&mut l.weight, &mut l.bias])
            .collect();
        let stems = self
            .stems
            .iter_mut()
            .map(|l| vec![&mut l.weight, &mut l.bias])
            .collect();
        (shared, stems)
    }
}
