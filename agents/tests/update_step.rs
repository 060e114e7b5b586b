//! With the `sum` aggregator, the multi-task step equals a plain step on `Σ_t L_t`.

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask_agents::adam::{clip_global_norm, Adam, AdamConfig};
use polytask_agents::combine::Combiner;
use polytask_agents::surgery::Sum;
use polytask_agents::update::MultiTaskOptimizer;
use tch::{Device, Kind, Tensor};

fn net() -> ActorCritic {
    tch::manual_seed(11);
    let tasks = [
        TaskShape::vector(4, ActionSpec::Discrete(2)),
        TaskShape::vector(2, ActionSpec::Continuous(1)),
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
    let mut plain = Adam::new(&[b.flat_params()], AdamConfig::default());
    let mut combiner = Combiner::new(Box::new(Sum), None);
    for _ in 0..3 {
        let (out, l) = losses(&a, &obs);
        let report = opt.step(&a, &l, &out, &mut combiner, 0.01).unwrap();
        let (_, l) = losses(&b, &obs);
        let total = &l[0] + &l[1];
        let params: Vec<&Tensor> = b.named_params().into_iter().map(|(_, p)| p).collect();
        let grads = Tensor::run_backward(&[total], &params, false, false);
        let flat: Vec<Tensor> = grads
            .into_iter()
            .zip(&params)
            .map(|(g, p)| {
                if g.defined() {
                    g.reshape([-1])
                } else {
                    p.zeros_like().reshape([-1])
                }
            })
            .collect();
        let mut flat = [Tensor::cat(&flat, 0)];
        let norm = clip_global_norm(&mut flat, 0.5).double_value(&[]);
        let reported = report.grad_norm;
        assert!(
            (norm - reported).abs() < 1e-4 * norm.max(1.0),
            "{norm} vs {reported}"
        );
        plain.step(&[b.flat_params()], &flat, 0.01);
    }
    let diff = (a.flat_params() - b.flat_params())
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-5, "parameters differ by {diff}");
}
