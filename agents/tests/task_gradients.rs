//! The per-task gradients from one backward pass equal T separate backward passes.

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use tch::{Device, Kind, Tensor};

fn tasks() -> Vec<TaskShape> {
    vec![
        TaskShape {
            obs_dim: 4,
            action: ActionSpec::Discrete(2),
        },
        TaskShape {
            obs_dim: 6,
            action: ActionSpec::Discrete(3),
        },
        TaskShape {
            obs_dim: 3,
            action: ActionSpec::Continuous(1),
        },
    ]
}

fn batch(shapes: &[TaskShape], rows: &[i64]) -> (Vec<Tensor>, Vec<Tensor>) {
    let obs = shapes
        .iter()
        .zip(rows)
        .map(|(s, &n)| Tensor::randn([n, s.obs_dim], (Kind::Float, Device::Cpu)))
        .collect();
    let actions = shapes
        .iter()
        .zip(rows)
        .map(|(s, &n)| match s.action {
            ActionSpec::Discrete(k) => Tensor::randint(k, [n], (Kind::Int64, Device::Cpu)),
            ActionSpec::Continuous(d) => Tensor::randn([n, d], (Kind::Float, Device::Cpu)),
        })
        .collect();
    (obs, actions)
}

/// A loss touching policy, entropy and value of task `t`.
fn loss(net: &ActorCritic, obs: &[Tensor], actions: &[Tensor], t: usize) -> Tensor {
    let out = net.forward(obs);
    task_loss(&out, actions, t)
}

fn task_loss(out: &polytask_agents::actor_critic::Output, actions: &[Tensor], t: usize) -> Tensor {
    let d = &out.dists[t];
    -(d.log_prob(&actions[t]) * (t as f64 + 1.0)).mean(Kind::Float)
        - 0.1 * d.entropy().mean(Kind::Float)
        + out.values[t].square().mean(Kind::Float)
}

fn check(config: NetConfig) {
    check_rows(&config, &[5, 7, 4]);
    check_rows(&config, &[6, 6, 6]);
}

fn check_rows(config: &NetConfig, rows: &[i64]) {
    tch::manual_seed(3);
    let shapes = tasks();
    let net = ActorCritic::new(&shapes, config, Device::Cpu);
    let (obs, actions) = batch(&shapes, rows);
    let out = net.forward(&obs);
    let losses: Vec<Tensor> = (0..shapes.len())
        .map(|t| task_loss(&out, &actions, t))
        .collect();
    let grads = net.task_gradients(&losses, &out).unwrap();
    assert_eq!(grads.shared.size(), vec![3, net.shared_len()]);
    for t in 0..shapes.len() {
        let shared = net.shared_params();
        let reference =
            Tensor::run_backward(&[loss(&net, &obs, &actions, t)], &shared, false, false);
        let flat = Tensor::cat(
            &reference
                .iter()
                .map(|g| g.reshape([-1]))
                .collect::<Vec<_>>(),
            0,
        );
        let diff = (&flat - grads.shared.get(t as i64))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "task {t}: shared gradient differs by {diff}");
        let own = net.task_params(t);
        let reference = Tensor::run_backward(&[loss(&net, &obs, &actions, t)], &own, false, false);
        let flat: Vec<Tensor> = reference.iter().map(|g| g.reshape([-1])).collect();
        let diff = (Tensor::cat(&flat, 0) - &grads.own[t])
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "task {t}: own gradient differs by {diff}");
    }
}

#[test]
fn one_backward_gives_each_tasks_gradient_with_a_separate_critic() {
    check(NetConfig {
        hidden: vec![16, 12, 8],
        ..NetConfig::default()
    });
}

#[test]
fn one_backward_gives_each_tasks_gradient_with_a_shared_critic() {
    check(NetConfig {
        hidden: vec![16, 8],
        shared_critic: true,
        ..NetConfig::default()
    });
}
