//! With the `sum` aggregator, the multi-task step equals a plain step on `Σ_t L_t`.

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask_agents::adam::{clip_global_norm, Adam, AdamConfig};
use polytask_agents::surgery::Sum;
use polytask_agents::update::{ordered_params, MultiTaskOptimizer};
use tch::{Device, Kind, Tensor};

fn net() -> ActorCritic {
    tch::manual_seed(11);
    let tasks = [
        TaskShape {
            obs_dim: 4,
            action: ActionSpec::Discrete(2),
        },
        TaskShape {
            obs_dim: 2,
            action: ActionSpec::Continuous(1),
        },
    ];
    ActorCritic::new(
        &tasks,
        &NetConfig {
            hidden: vec![8, 8],
            ..NetConfig::default()
        },
        Device::Cpu,
    )
}

fn losses(
    net: &ActorCritic,
    obs: &[Tensor],
) -> (polytask_agents::actor_critic::Output, Vec<Tensor>) {
    let out = net.forward(obs);
    let losses = (0..2)
        .map(|t| {
            out.values[t].square().mean(Kind::Float) - out.dists[t].entropy().mean(Kind::Float)
        })
        .collect();
    (out, losses)
}

#[test]
fn sum_aggregation_equals_one_plain_backward_step() {
    tch::manual_seed(5);
    let obs = vec![
        Tensor::randn([6, 4], (Kind::Float, Device::Cpu)),
        Tensor::randn([3, 2], (Kind::Float, Device::Cpu)),
    ];
    let a = net();
    let b = net();
    let mut opt = MultiTaskOptimizer::new(&a, AdamConfig::default(), 0.5);
    let mut plain = Adam::new(&ordered_params(&b), AdamConfig::default());
    for _ in 0..3 {
        let (out, l) = losses(&a, &obs);
        let report = opt.step(&a, &l, &out, &mut Sum, 0.01).unwrap();
        assert_eq!(report.stats.tasks, 2);
        let (_, l) = losses(&b, &obs);
        let total = &l[0] + &l[1];
        let params = ordered_params(&b);
        let grads = Tensor::run_backward(&[total], &params, false, false);
        let mut grads: Vec<Tensor> = grads
            .into_iter()
            .zip(&params)
            .map(|(g, p)| if g.defined() { g } else { p.zeros_like() })
            .collect();
        let norm = clip_global_norm(&mut grads, 0.5);
        assert!((norm - report.grad_norm).abs() < 1e-4 * norm.max(1.0));
        plain.step(&ordered_params(&b), &grads, 0.01);
    }
    for (p, q) in ordered_params(&a).iter().zip(ordered_params(&b)) {
        let diff = (*p - q).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "parameters differ by {diff}");
    }
}
