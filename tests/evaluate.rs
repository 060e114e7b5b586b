//! Evaluation counts every environment's episodes equally (Stable-Baselines3's
//! `evaluate_policy` rule), so short episodes are not over-represented.

use polytask::agents::actor_critic::{ActionSpec, ActorCritic, NetConfig, TaskShape};
use polytask::config::{Role, Task};
use polytask::envs::{Action, BoxSpace, Env, EnvError, EnvSpec, Params, Registry, Space, Step};
use polytask::train::{evaluate, EvalOptions, TaskNormalizer};
use polytask::vec_env::instance_seed;

/// Episodes of 1 step after an even reset seed, of 51 steps after an odd one; reward 1 per
/// step, so a return is its episode's length. Its metric `success` is 1 at step 30 of a long
/// episode and 0 at every other step, so a long episode succeeds and a short one does not.
struct Lengths {
    long: bool,
    t: u32,
    obs: Space,
    act: Space,
    names: Vec<String>,
    success: [f32; 1],
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
    fn metric_names(&self) -> &[String] {
        &self.names
    }
    fn metrics(&self) -> &[f32] {
        &self.success
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
        self.success[0] = f32::from(u8::from(self.long && self.t == 30));
        let length = if self.long { 51 } else { 1 };
        Ok(Step {
            reward: 1.0,
            terminated: self.t >= length,
            truncated: false,
        })
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(EnvSpec::new("Lengths-v0", &[], |_| {
        Ok(Box::new(Lengths {
            long: false,
            t: 0,
            obs: Space::Box(BoxSpace::new(vec![-1.0], vec![1.0])),
            act: Space::Discrete(2),
            names: vec!["success".to_string()],
            success: [0.0],
        }))
    }));
    registry
}

#[test]
fn every_environment_contributes_its_share_of_episodes_whatever_their_length() {
    let registry = registry();
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
            python_workers: None,
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
        // An episode's success is whether `success` was 1 at any step: the long ones.
        let (name, successes) = &result[0].metrics[0];
        assert_eq!((name.as_str(), result[0].metrics.len()), ("success", 1));
        let long_ones = got.iter().filter(|&&r| r == 51.0).count();
        assert_eq!(successes.len(), episodes);
        assert_eq!(successes.iter().sum::<f64>(), long_ones as f64);
        for (ret, success) in got.iter().zip(successes) {
            assert_eq!(*success, if *ret == 51.0 { 1.0 } else { 0.0 });
        }
        let rate = result[0].metric_mean("success").unwrap();
        assert_eq!(rate, long_ones as f64 / episodes as f64);
        got.sort_by(f64::total_cmp);
        expected.sort_by(f64::total_cmp);
        assert_eq!(got, expected);
        assert!(
            expected.contains(&51.0) && expected.contains(&1.0),
            "both lengths occur"
        );
    }
}

/// Training logs each task's metric rate over its recent episodes as
/// `charts/<task>/success_rate`, the final evaluation `eval/<task>/success_rate`, and
/// `result.json` each evaluated episode's success.
#[test]
fn success_rates_are_logged_and_reported() {
    let raw: polytask::config::RawConfig = toml::from_str(
        "total_timesteps = 2048\n[algorithm]\nnum_steps = 64\n[logging]\neval_episodes = 8\n\
         [[tasks]]\nname = \"lengths\"\nenv = \"Lengths-v0\"\nnum_envs = 4\n",
    )
    .unwrap();
    let registry = registry();
    let config = raw.validate(&registry).unwrap();
    let dir = std::env::temp_dir().join(format!("polytask-success-{}", std::process::id()));
    let mut logger = polytask::logger::MemoryLogger::new();
    let outcome = polytask::train::train(&config, &registry, &dir, &mut logger).unwrap();
    let rates = logger.scalars("charts/lengths/success_rate");
    assert!(!rates.is_empty());
    assert!(
        rates.iter().all(|&(_, r)| (0.0..=1.0).contains(&r)),
        "{rates:?}"
    );
    // The 4 environments' seeds decide which have long episodes; both kinds occur among
    // instance seeds 0..4 of seed 1 (checked below), so the rate is strictly between 0 and 1.
    let long = (0..4).filter(|&k| instance_seed(1, 0, k) % 2 == 1).count();
    assert!(long > 0 && long < 4, "{long}");
    let last = rates.last().unwrap().1;
    assert!(last > 0.0 && last < 1.0, "{last}");
    let eval = logger.last_scalar("eval/lengths/success_rate").unwrap();
    assert_eq!(Some(eval), outcome.evaluation[0].metric_mean("success"));
    let result = polytask::train::RunResult::of(&outcome, &["lengths".to_string()]);
    assert_eq!(result.tasks[0].eval_rate("success"), Some(eval));
    let json = serde_json::to_string(&result).unwrap();
    assert!(json.contains("\"eval_metrics\":{\"success\":["), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}
