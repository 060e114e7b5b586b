//! Task weightings in the training step they are made for: per-task gradients of shared
//! weights from autograd, weights first, then a surgery aggregator, then the update.

use std::collections::BTreeMap;

use polytask_agents::surgery;
use polytask_agents::weighting::{self, Role, Weighting, WeightingInput};
use tch::{Device, Kind, Tensor};

/// Linear regression tasks `y_t = x·β_t + σ_t ε` through a shared layer `W` (`[6, hidden]`) and
/// one head `H_t` (`[hidden, 1]`) per task, trained by SGD.
struct Problem {
    betas: Vec<Tensor>,
    noise: Vec<f64>,
    w: Tensor,
    heads: Vec<Tensor>,
}

impl Problem {
    fn new(betas: Vec<Tensor>, noise: Vec<f64>, hidden: i64) -> Self {
        let w =
            (Tensor::randn([6, hidden], (Kind::Float, Device::Cpu)) * 0.3).set_requires_grad(true);
        let heads = (0..betas.len())
            .map(|_| {
                (Tensor::randn([hidden, 1], (Kind::Float, Device::Cpu)) * 0.3)
                    .set_requires_grad(true)
            })
            .collect();
        Self {
            betas,
            noise,
            w,
            heads,
        }
    }

    /// A minibatch: inputs and one target per task.
    fn batch(&self) -> (Tensor, Vec<Tensor>) {
        let x = Tensor::randn([128, 6], (Kind::Float, Device::Cpu));
        let ys = self
            .betas
            .iter()
            .zip(&self.noise)
            .map(|(b, s)| x.matmul(b) + Tensor::randn([128, 1], (Kind::Float, Device::Cpu)) * *s)
            .collect();
        (x, ys)
    }

    fn losses(&self, x: &Tensor, ys: &[Tensor]) -> Vec<Tensor> {
        let z = x.matmul(&self.w);
        self.heads
            .iter()
            .zip(ys)
            .map(|(h, y)| (z.matmul(h) - y).square().mean(Kind::Float))
            .collect()
    }

    /// One training step with `weighting` and `aggregator`; returns the losses before it.
    fn step(
        &mut self,
        weighting: &mut dyn Weighting,
        aggregator: &mut dyn surgery::Aggregator,
        lr: f64,
    ) -> Vec<f64> {
        let (x, ys) = self.batch();
        let losses = self.losses(&x, &ys);
        let values: Vec<f64> = losses.iter().map(|l| l.double_value(&[])).collect();
        let mut shared = Vec::new();
        let mut own = Vec::new();
        for (t, l) in losses.iter().enumerate() {
            let g = Tensor::run_backward(&[l], &[&self.w, &self.heads[t]], true, false);
            shared.push(g[0].reshape([-1]));
            own.push(g[1].shallow_clone());
        }
        let grads = Tensor::stack(&shared, 0);
        let w = weighting
            .weights(&WeightingInput {
                losses: &values,
                grads: &polytask_agents::surgery::GradMatrix::from(&grads),
                lr,
            })
            .to_vec();
        assert!(
            w.iter().all(|x| x.is_finite() && *x >= 0.0),
            "{}: {w:?}",
            weighting.name()
        );
        let scale = Tensor::from_slice(&w).to_kind(Kind::Float).unsqueeze(1);
        let update = aggregator.aggregate(&polytask_agents::surgery::GradMatrix::from(
            &(&grads * scale),
        ));
        tch::no_grad(|| {
            let _ = self
                .w
                .f_sub_(&(update.reshape(self.w.size()) * lr))
                .unwrap();
            for (t, g) in own.iter().enumerate() {
                let s = if weighting.weights_task_specific() {
                    w[t]
                } else {
                    1.0
                };
                let _ = self.heads[t].f_sub_(&(g * (lr * s))).unwrap();
            }
        });
        if weighting.wants_losses_after_step() {
            let after: Vec<f64> = tch::no_grad(|| self.losses(&x, &ys))
                .iter()
                .map(|l| l.double_value(&[]))
                .collect();
            weighting.after_step(&after);
        }
        values
    }
}

#[test]
fn uncertainty_weights_approach_the_inverse_noise_variance_in_real_training() {
    tch::manual_seed(11);
    let betas: Vec<Tensor> = (0..2)
        .map(|_| Tensor::randn([6, 1], (Kind::Float, Device::Cpu)))
        .collect();
    let noise = [0.5, 1.0];
    let mut problem = Problem::new(betas, noise.to_vec(), 6);
    let mut weighting =
        weighting::by_name("uncertainty", &BTreeMap::new(), &[Role::Main, Role::Main]).unwrap();
    let mut sum = surgery::by_name("sum").unwrap();
    for _ in 0..3000 {
        problem.step(weighting.as_mut(), sum.as_mut(), 0.01);
    }
    let w = weighting
        .weights(&WeightingInput {
            losses: &[0.25, 1.0],
            grads: &Tensor::zeros([2, 1], (Kind::Float, Device::Cpu)).into(),
            lr: 0.01,
        })
        .to_vec();
    for t in 0..2 {
        let want = 1.0 / (noise[t] * noise[t]);
        assert!(
            (w[t] - want).abs() < 0.2 * want,
            "task {t}: weight {} vs 1/σ² = {want}",
            w[t]
        );
    }
}

#[test]
fn every_weighting_runs_with_every_aggregator_it_composes_with() {
    let roles = [Role::Main, Role::Auxiliary];
    let mut rejected = 0;
    for name in weighting::NAMES {
        for agg in surgery::NAMES {
            if weighting::compatible(name, agg).is_err() {
                rejected += 1;
                continue;
            }
            tch::manual_seed(5);
            let main = Tensor::randn([6, 1], (Kind::Float, Device::Cpu));
            let aux = &main + Tensor::randn([6, 1], (Kind::Float, Device::Cpu)) * 0.3;
            let mut problem = Problem::new(vec![main, aux], vec![0.1, 0.1], 3);
            let mut w = weighting::by_name(name, &BTreeMap::new(), &roles).unwrap();
            let mut a = surgery::by_name(agg).unwrap();
            let mut first = None;
            let mut last = vec![];
            let mut sums = [0.0; 2];
            for step in 1..=60 {
                last = problem.step(w.as_mut(), a.as_mut(), 0.02);
                first.get_or_insert(last[0]);
                sums[0] += last[0];
                sums[1] += last[1];
                if step % 10 == 0 {
                    w.end_iteration(&[sums[0] / 10.0, sums[1] / 10.0]);
                    sums = [0.0; 2];
                }
            }
            let first = first.unwrap();
            assert!(
                last[0] < 0.7 * first,
                "{name} + {agg}: main loss {first} → {}",
                last[0]
            );
        }
    }
    // mgda, imtl-g, nash-mtl, config and aligned-mtl for the 8 weightings other than `none`,
    // and cagrad for the 4 auxiliary ones.
    assert_eq!(rejected, 5 * 8 + 4);
}
