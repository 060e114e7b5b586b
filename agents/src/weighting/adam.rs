//! Adam (Kingma & Ba 2015, Algorithm 1) on a handful of `f64` weighting parameters
//! (log-variances, task weights, logits), as `torch.optim.Adam` with its defaults
//! (`β = (0.9, 0.999)`, `ε = 1e-8`) and its coupled L2 `weight_decay` (added to the gradient).

/// Adam's state for a small vector of parameters.
#[derive(Debug, Clone)]
pub(crate) struct VecAdam {
    lr: f64,
    weight_decay: f64,
    first: Vec<f64>,
    second: Vec<f64>,
    steps: i32,
}

/// What [`VecAdam`] carries between steps: its moments and step count.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AdamState {
    first: Vec<f64>,
    second: Vec<f64>,
    steps: i32,
}

impl AdamState {
    /// An error unless the moments are of `n` parameters.
    pub fn check(&self, n: usize) -> Result<(), String> {
        crate::state::expect_len("Adam's first moment", &self.first, n)?;
        crate::state::expect_len("Adam's second moment", &self.second, n)
    }
}

impl VecAdam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    /// Zero moments for `n` parameters.
    pub fn new(n: usize, lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay,
            first: vec![0.0; n],
            second: vec![0.0; n],
            steps: 0,
        }
    }

    /// The moments and step count, for a saved state.
    pub fn state(&self) -> AdamState {
        AdamState {
            first: self.first.clone(),
            second: self.second.clone(),
            steps: self.steps,
        }
    }

    /// Restores the moments and step count of [`VecAdam::state`], checked by
    /// [`AdamState::check`] (the learning rate and weight decay stay this optimizer's).
    pub fn restore(&mut self, state: AdamState) {
        self.first = state.first;
        self.second = state.second;
        self.steps = state.steps;
    }

    /// One step on `params` along `grads` (the gradient of the objective to minimise).
    pub fn step(&mut self, params: &mut [f64], grads: &[f64]) {
        self.steps += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.steps);
        let c2 = 1.0 - Self::BETA2.powi(self.steps);
        for (i, p) in params.iter_mut().enumerate() {
            let g = grads[i] + self.weight_decay * *p;
            self.first[i] = Self::BETA1 * self.first[i] + (1.0 - Self::BETA1) * g;
            self.second[i] = Self::BETA2 * self.second[i] + (1.0 - Self::BETA2) * g * g;
            *p -= self.lr * (self.first[i] / c1) / ((self.second[i] / c2).sqrt() + Self::EPS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_step_moves_each_parameter_by_lr_against_its_gradient_sign() {
        // Bias correction makes the first step exactly lr · g / (|g| + ε).
        let mut adam = VecAdam::new(2, 0.1, 0.0);
        let mut p = [1.0, 1.0];
        adam.step(&mut p, &[2.0, -0.5]);
        assert!(
            (p[0] - 0.9).abs() < 1e-7 && (p[1] - 1.1).abs() < 1e-7,
            "{p:?}"
        );
    }

    #[test]
    fn weight_decay_is_added_to_the_gradient() {
        // torch.optim.Adam([p], lr=0.1, weight_decay=0.5), p = 2, grad 0: g = 1 → p = 1.9.
        let mut adam = VecAdam::new(1, 0.1, 0.5);
        let mut p = [2.0];
        adam.step(&mut p, &[0.0]);
        assert!((p[0] - 1.9).abs() < 1e-7, "{p:?}");
    }
}
