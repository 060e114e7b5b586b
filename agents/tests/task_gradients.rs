//! The per-task gradients from one backward pass equal T separate backward passes.

use polytask_agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask_agents::conv::{ConvConfig, ConvScheme, Grid};
use polytask_agents::kernels::{Backend, KernelChoice};
use tch::{Device, Kind, Tensor};

fn tasks() -> Vec<TaskShape> {
    vec![
        TaskShape::vector(4, ActionSpec::Discrete(2)),
        TaskShape::vector(6, ActionSpec::Discrete(3)),
        TaskShape::vector(3, ActionSpec::Continuous(1)),
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

/// Two image tasks of different channel counts with a vector task between them.
fn image_tasks() -> Vec<TaskShape> {
    let image = |channels, action| {
        let grid = Grid {
            height: 6,
            width: 5,
            channels,
        };
        TaskShape::image(grid, action)
    };
    vec![
        image(3, ActionSpec::Discrete(4)),
        TaskShape::vector(4, ActionSpec::Discrete(2)),
        image(2, ActionSpec::Discrete(3)),
    ]
}

/// Both schemes, strides 1 and 2, separate and shared critics.
fn conv_configs() -> Vec<NetConfig> {
    let conv = |scheme, stride| ConvConfig {
        scheme,
        filters: 3,
        kernel_size: 3,
        stride,
    };
    let adapter = ConvScheme::Adapter { channels: 4 };
    [
        (conv(ConvScheme::PerTask, 1), false),
        (conv(ConvScheme::PerTask, 2), true),
        (conv(adapter, 1), false),
        (conv(adapter, 2), true),
    ]
    .into_iter()
    .map(|(conv, shared_critic)| NetConfig {
        hidden: vec![8, 6],
        conv,
        shared_critic,
        ..NetConfig::default()
    })
    .collect()
}

#[test]
fn one_backward_gives_each_tasks_gradient_with_convolutional_stems() {
    let configs = conv_configs();
    assert!(!configs.is_empty());
    for config in configs {
        for rows in [[5, 7, 4], [6, 6, 6]] {
            check_rows_of(&config, &image_tasks(), &rows);
            check_hand_written_of(&config, &image_tasks(), &rows);
        }
    }
}

fn check(config: NetConfig) {
    check_rows(&config, &[5, 7, 4]);
    check_rows(&config, &[6, 6, 6]);
}

fn check_rows(config: &NetConfig, rows: &[i64]) {
    check_rows_of(config, &tasks(), rows);
}

fn check_rows_of(config: &NetConfig, shapes: &[TaskShape], rows: &[i64]) {
    tch::manual_seed(3);
    let net = ActorCritic::new(shapes, config, Device::Cpu);
    let (obs, actions) = batch(shapes, rows);
    let out = net.forward(&obs);
    let losses: Vec<Tensor> = (0..shapes.len())
        .map(|t| task_loss(&out, &actions, t))
        .collect();
    let grads = net.task_gradients(&losses, &out).unwrap();
    assert_eq!(
        grads.shared.size(),
        vec![shapes.len() as i64, net.shared_len()]
    );
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

/// The learner's path — a forward pass without a graph, the losses' hand-written gradients,
/// [`ActorCritic::backward`] — gives each task's PPO and A2C gradients as autograd does.
fn check_hand_written(config: &NetConfig, rows: &[i64]) {
    check_hand_written_of(config, &tasks(), rows);
}

fn check_hand_written_of(config: &NetConfig, shapes: &[TaskShape], rows: &[i64]) {
    use polytask_agents::actor_critic::HeadGradients;
    use polytask_agents::ppo::{a2c_grads, a2c_loss, ppo_grads, ppo_loss, Batch, PpoConfig};
    tch::manual_seed(5);
    let net = ActorCritic::new(shapes, config, Device::Cpu);
    let (obs, actions) = batch(shapes, rows);
    let f = (Kind::Float, Device::Cpu);
    let rollout: Vec<[Tensor; 4]> = rows
        .iter()
        .map(|&n| {
            let old_log_prob = Tensor::randn([n], f) * 0.5 - 1.0;
            [
                old_log_prob,
                Tensor::randn([n], f),
                Tensor::randn([n], f),
                Tensor::randn([n], f),
            ]
        })
        .collect();
    let loss_config = PpoConfig::default();
    for a2c in [false, true] {
        let batch = |out: &polytask_agents::actor_critic::Output, t: usize, lp: &Tensor| {
            let [old_log_prob, old_value, advantages, returns] = &rollout[t];
            let b = Batch {
                new_log_prob: lp,
                old_log_prob,
                new_value: &out.values[t],
                old_value,
                advantages,
                returns,
            };
            let entropy = out.dists[t].entropy();
            if a2c {
                (
                    a2c_loss(&b, &entropy, &loss_config).total,
                    a2c_grads(&b, &loss_config),
                )
            } else {
                (
                    ppo_loss(&b, &entropy, &loss_config).total,
                    ppo_grads(&b, &loss_config),
                )
            }
        };
        let grads = tch::no_grad(|| {
            let out = net.forward(&obs);
            let heads: Vec<HeadGradients> = (0..shapes.len())
                .map(|t| {
                    let lp = out.dists[t].log_prob(&actions[t]);
                    let (_, g) = batch(&out, t, &lp);
                    let (policy, log_std) =
                        out.dists[t].backward(&actions[t], &g.log_prob, g.entropy);
                    HeadGradients {
                        policy,
                        value: g.value,
                        log_std,
                    }
                })
                .collect();
            net.backward(&out, &heads)
        });
        for (t, action) in actions.iter().enumerate() {
            let out = net.forward(&obs);
            let lp = out.dists[t].log_prob(action);
            let (loss, _) = batch(&out, t, &lp);
            let mut params = net.shared_params();
            params.extend(net.task_params(t));
            let reference = Tensor::run_backward(&[loss], &params, false, false);
            let flat: Vec<Tensor> = reference.iter().map(|g| g.reshape([-1])).collect();
            let (shared, own) = flat.split_at(net.shared_params().len());
            let diff =
                |a: &[Tensor], b: &Tensor| (Tensor::cat(a, 0) - b).abs().max().double_value(&[]);
            if !shared.is_empty() {
                let d = diff(shared, &grads.shared.get(t as i64));
                assert!(
                    d < 1e-5,
                    "a2c {a2c}, task {t}: shared gradient differs by {d}"
                );
            }
            let d = diff(own, &grads.own[t]);
            assert!(d < 1e-5, "a2c {a2c}, task {t}: own gradient differs by {d}");
        }
    }
}

/// Every kernel on the host, every kernel on libtorch, and one mix.
fn kernel_choices() -> Vec<KernelChoice> {
    let mut mixed = KernelChoice::all(Backend::Host);
    mixed.tanh_backward = Backend::Libtorch;
    mixed.weight_grad = Backend::Libtorch;
    vec![
        KernelChoice::all(Backend::Host),
        KernelChoice::all(Backend::Libtorch),
        mixed,
    ]
}

#[test]
fn the_learners_hand_written_path_gives_each_tasks_gradient() {
    // Two shared layers, with a separate or a shared critic; and no shared layer at all.
    for kernels in kernel_choices() {
        for (hidden, shared_critic) in [
            (vec![16, 12, 8], false),
            (vec![16, 12, 8], true),
            (vec![16], false),
        ] {
            let config = NetConfig {
                hidden,
                shared_critic,
                kernels,
                ..NetConfig::default()
            };
            check_hand_written(&config, &[5, 7, 4]);
            check_hand_written(&config, &[6, 6, 6]);
        }
    }
}

#[test]
fn forward_without_a_graph_matches_forward_with_one() {
    let cases = kernel_choices()
        .into_iter()
        .flat_map(|k| [(k, false), (k, true)]);
    for (kernels, shared_critic) in cases {
        tch::manual_seed(9);
        let config = NetConfig {
            hidden: vec![16, 12, 8],
            shared_critic,
            kernels,
            ..NetConfig::default()
        };
        let shapes = tasks();
        let net = ActorCritic::new(&shapes, &config, Device::Cpu);
        let (obs, actions) = batch(&shapes, &[5, 7, 4]);
        let with = net.forward(&obs);
        let without = tch::no_grad(|| net.forward(&obs));
        for (t, action) in actions.iter().enumerate() {
            let same = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) < 1e-6;
            assert!(
                same(&with.values[t], &without.values[t]),
                "values of task {t}"
            );
            let (a, b) = (&with.dists[t], &without.dists[t]);
            assert!(same(&a.log_prob(action), &b.log_prob(action)), "task {t}");
        }
    }
}

#[test]
fn every_kernel_choice_gives_libtorchs_outputs_even_for_a_task_without_rows() {
    let config = |kernels| NetConfig {
        hidden: vec![16, 12],
        kernels,
        ..NetConfig::default()
    };
    let shapes = tasks();
    tch::manual_seed(4);
    let reference = ActorCritic::new(&shapes, &config(KernelChoice::default()), Device::Cpu);
    for rows in [[0, 3, 2], [1, 0, 0]] {
        let (obs, actions) = batch(&shapes, &rows);
        let expected = tch::no_grad(|| reference.forward(&obs));
        for kernels in kernel_choices() {
            let net = ActorCritic::new(&shapes, &config(kernels), Device::Cpu);
            // The same weights (libtorch's generator is shared with tests running alongside).
            tch::no_grad(|| {
                net.flat_params()
                    .shallow_clone()
                    .copy_(reference.flat_params())
            });
            let out = tch::no_grad(|| net.forward(&obs));
            for (t, action) in actions.iter().enumerate() {
                let close = |a: &Tensor, b: &Tensor| {
                    a.size() == b.size()
                        && (a.numel() == 0 || (a - b).abs().max().double_value(&[]) < 1e-6)
                };
                assert!(close(&out.values[t], &expected.values[t]), "{rows:?}");
                let (a, b) = (&out.dists[t], &expected.dists[t]);
                assert!(close(&a.log_prob(action), &b.log_prob(action)), "{rows:?}");
            }
        }
    }
}

/// PPO's gradients at the heads of `out`, by hand, on a random rollout.
fn ppo_heads(
    out: &polytask_agents::actor_critic::Output,
    actions: &[Tensor],
) -> Vec<polytask_agents::actor_critic::HeadGradients> {
    use polytask_agents::ppo::{ppo_grads, Batch, PpoConfig};
    let f = (Kind::Float, Device::Cpu);
    actions
        .iter()
        .enumerate()
        .map(|(t, action)| {
            let n = out.values[t].size()[0];
            let rollout: Vec<Tensor> = (0..4).map(|_| Tensor::randn([n], f)).collect();
            let lp = out.dists[t].log_prob(action);
            let b = Batch {
                new_log_prob: &lp,
                old_log_prob: &(&rollout[0] * 0.5 + &lp),
                new_value: &out.values[t],
                old_value: &rollout[1],
                advantages: &rollout[2],
                returns: &rollout[3],
            };
            let g = ppo_grads(&b, &PpoConfig::default());
            let (policy, log_std) = out.dists[t].backward(action, &g.log_prob, g.entropy);
            polytask_agents::actor_critic::HeadGradients {
                policy,
                value: g.value,
                log_std,
            }
        })
        .collect()
}

#[test]
fn reused_buffers_hold_the_latest_gradients() {
    tch::manual_seed(2);
    let shapes = tasks();
    let config = NetConfig {
        hidden: vec![16, 8],
        ..NetConfig::default()
    };
    let net = ActorCritic::new(&shapes, &config, Device::Cpu);
    tch::no_grad(|| {
        for rows in [[5, 7, 4], [6, 6, 6]] {
            let mut buffers = net.grad_buffers(&rows);
            for _ in 0..2 {
                let (obs, actions) = batch(&shapes, &rows);
                let out = net.forward(&obs);
                let heads = ppo_heads(&out, &actions);
                net.backward_into(&out, &heads, &mut buffers);
                let fresh = net.backward(&out, &heads);
                let reused = buffers.gradients();
                let same = |a: &Tensor, b: &Tensor| a.equal(b);
                assert!(same(&fresh.shared, &reused.shared), "rows {rows:?}");
                for t in 0..shapes.len() {
                    assert!(
                        same(&fresh.own[t], &reused.own[t]),
                        "rows {rows:?}, task {t}"
                    );
                }
            }
        }
    });
}

#[test]
fn the_minatar_networks_share_what_the_docs_say() {
    // The five games' channels and minimal action counts; the counts of docs/minatar.md.
    let games = [(4, 5), (4, 3), (7, 3), (10, 6), (6, 4)];
    let shapes: Vec<TaskShape> = games
        .iter()
        .map(|&(channels, actions)| {
            let grid = Grid {
                height: 10,
                width: 10,
                channels,
            };
            TaskShape::image(grid, ActionSpec::Discrete(actions))
        })
        .collect();
    for (scheme, shared, own) in [
        (ConvScheme::PerTask, 131_200, [1366, 1108, 1540, 2359, 1525]),
        (
            ConvScheme::Adapter { channels: 8 },
            132_368,
            [814, 556, 580, 991, 701],
        ),
    ] {
        let config = NetConfig {
            hidden: vec![128],
            conv: ConvConfig {
                scheme,
                ..ConvConfig::default()
            },
            shared_critic: true,
            ..NetConfig::default()
        };
        let net = ActorCritic::new(&shapes, &config, Device::Cpu);
        assert_eq!(net.shared_len(), shared, "{scheme:?}");
        let counts: Vec<i64> = (0..games.len())
            .map(|t| net.task_params(t).iter().map(|p| p.numel() as i64).sum())
            .collect();
        assert_eq!(counts, own, "{scheme:?}");
    }
}
