//! Evaluation counts every environment's episodes equally (Stable-Baselines3's
//! `evaluate_policy` rule), so short episodes are not over-represented.

use polytask::agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask::config::{Role, Task};
use polytask::envs::{Action, BoxSpace, Env, EnvError, EnvSpec, Params, Registry, Space, Step};
use polytask::train::{evaluate, EvalOptions, TaskNormalizer};
use polytask::vec_env::instance_seed;

/// Episodes of 1 step after an even reset seed, of 51 steps after an odd one; reward 1 per
/// step, so a return is its episode's length.
struct Lengths {
    long: bool,
    t: u32,
    obs: Space,
    act: Space,
}

impl Env for Lengths {
    fn id(&self) -> &str {
        "Lengths-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs
    }
    fn action_space(&self) -> &Space {
        &self.act
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        if let Some(seed) = seed {
            self.long = seed % 2 == 1;
        }
        self.t = 0;
        obs[0] = 0.0;
    }
    fn step(&mut self, _: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        self.t += 1;
        obs[0] = 0.0;
        let length = if self.long { 51 } else { 1 };
        Ok(Step {
            reward: 1.0,
            terminated: self.t >= length,
            truncated: false,
        })
    }
}

#[test]
fn every_environment_contributes_its_share_of_episodes_whatever_their_length() {
    let mut registry = Registry::new();
    registry.register(EnvSpec::new("Lengths-v0", &[], |_| {
        Ok(Box::new(Lengths {
            long: false,
            t: 0,
            obs: Space::Box(BoxSpace::new(vec![-1.0], vec![1.0])),
            act: Space::Discrete(2),
        }))
    }));
    let task = Task {
        name: "lengths".into(),
        env: "Lengths-v0".into(),
        params: Params::new(),
        num_envs: 1,
        role: Role::Main,
        normalize_obs: false,
        normalize_reward: false,
        threshold: None,
        obs_shape: Vec::new(),
    };
    let shape = TaskShape::vector(1, ActionSpec::Discrete(2));
    let net = ActorCritic::new(&[shape], &NetConfig::default(), tch::Device::Cpu);
    let norms = [TaskNormalizer::new(1, 8, false, false, 0.99)];
    let seed = 5;
    for episodes in [8, 13] {
        let options = EvalOptions {
            seed,
            episodes,
            deterministic: true,
        };
        let result = evaluate(
            &net,
            std::slice::from_ref(&task),
            &norms,
            &registry,
            &options,
        )
        .unwrap();
        let mut got = result[0].returns.clone();
        // Environment k of the 8 gives (episodes + k) / 8 episodes, each of its one length.
        let mut expected: Vec<f64> = (0..8)
            .flat_map(|k| {
                let long = instance_seed(seed, 0, k) % 2 == 1;
                let n = (episodes + k) / 8;
                std::iter::repeat_n(if long { 51.0 } else { 1.0 }, n)
            })
            .collect();
        assert_eq!(got.len(), episodes);
        got.sort_by(f64::total_cmp);
        expected.sort_by(f64::total_cmp);
        assert_eq!(got, expected);
        assert!(
            expected.contains(&51.0) && expected.contains(&1.0),
            "both lengths occur"
        );
    }
}
