//! Benchmark task sets: the top-level key `benchmark` expands into the benchmark's tasks, so
//! that a config for Meta-World's MT10 is a few lines rather than ten `[[tasks]]` tables.
//!
//! Meta-World (the `metaworld` 3.1.1 package, Meta-World v3 environments; McLean et al.,
//! "Meta-World+", 2025; Yu et al., "Meta-World", CoRL 2019):
//!
//! - `metaworld-mt1:<env name>` is one task, `gym:Meta-World/MT1` with `env_name`: the
//!   package's own MT1 environment, which samples each episode's goal from the 50 goals of
//!   `metaworld.MT1(env_name, seed)`.
//! - `metaworld-mt10` and `metaworld-mt50` are the benchmark's 10 and 50 environments in the
//!   package's order ([`MT10`], [`MT50`]), each `gym:polytask/Meta-World-MT10` (or `-MT50`)
//!   with `env_name`: the environment that Meta-World's `Meta-World/MT10` vector env holds
//!   at that position (`envs/src/adapters/gym_adapter.py` registers the ids), sampling its
//!   goals from the 50 that `metaworld.MT10(seed)` gives its class. Goals of one class differ
//!   between MT1, MT10 and MT50 for the same seed, because the benchmark draws them for its
//!   classes in turn from one random stream.
//!
//! Every task gets the parameter `seed`: the config's `seed` when it is loaded (after
//! `--set`), so the goals are recorded in the run's resolved config and a run reproduces;
//! `polytask train --seed` and `compare`'s seeds change the training seed, not the goals.
//! Every task reads Meta-World's `success` from the step's `info` as a metric
//! (`info_metrics = "success"`, see the `gym:` adapter), and turns off Gymnasium's passive
//! environment checker, which warns at every make that Meta-World's observation space has
//! dimensions with equal bounds. Meta-World's one-hot task id (`use_one_hot`) is left out:
//! each polytask task has its own input stem and heads, so the network already knows the
//! task. Episodes are Meta-World's 500 steps (its `TimeLimit`), and an episode counts as a
//! success if `success` was 1 at any step (the vector env's metric rule), as Meta-World's
//! `evaluation` counts it.

use std::collections::BTreeMap;

use polytask_envs::ParamValue;

use super::RawTask;
use crate::error::usage;

/// Meta-World's MT10 environments, in `metaworld.env_dict.MT10_V3`'s order.
pub const MT10: [&str; 10] = [
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
];

/// Meta-World's MT50 environments (all 50 v3 environments), in
/// `metaworld.env_dict.ALL_V3_ENVIRONMENTS`'s order.
pub const MT50: [&str; 50] = [
    "assembly-v3",
    "basketball-v3",
    "bin-picking-v3",
    "box-close-v3",
    "button-press-topdown-v3",
    "button-press-topdown-wall-v3",
    "button-press-v3",
    "button-press-wall-v3",
    "coffee-button-v3",
    "coffee-pull-v3",
    "coffee-push-v3",
    "dial-turn-v3",
    "disassemble-v3",
    "door-close-v3",
    "door-lock-v3",
    "door-open-v3",
    "door-unlock-v3",
    "hand-insert-v3",
    "drawer-close-v3",
    "drawer-open-v3",
    "faucet-open-v3",
    "faucet-close-v3",
    "hammer-v3",
    "handle-press-side-v3",
    "handle-press-v3",
    "handle-pull-side-v3",
    "handle-pull-v3",
    "lever-pull-v3",
    "pick-place-wall-v3",
    "pick-out-of-hole-v3",
    "pick-place-v3",
    "plate-slide-v3",
    "plate-slide-side-v3",
    "plate-slide-back-v3",
    "plate-slide-back-side-v3",
    "peg-insert-side-v3",
    "peg-unplug-side-v3",
    "soccer-v3",
    "stick-push-v3",
    "stick-pull-v3",
    "push-v3",
    "push-wall-v3",
    "push-back-v3",
    "reach-v3",
    "reach-wall-v3",
    "shelf-place-v3",
    "sweep-into-v3",
    "sweep-v3",
    "window-open-v3",
    "window-close-v3",
];

/// The names `benchmark` accepts, for error messages.
const KNOWN: &str = "\"metaworld-mt10\", \"metaworld-mt50\", \"metaworld-mt1:<env name>\" \
                     (e.g. \"metaworld-mt1:reach-v3\")";

/// The tasks of benchmark `name`, each with `num_envs` environments and goals drawn with
/// `seed`; an unknown name is a usage error listing the known ones.
pub fn expand(name: &str, seed: u64, num_envs: usize) -> anyhow::Result<Vec<RawTask>> {
    let (env, names): (&str, Vec<&str>) = match name {
        "metaworld-mt10" => ("gym:polytask/Meta-World-MT10", MT10.to_vec()),
        "metaworld-mt50" => ("gym:polytask/Meta-World-MT50", MT50.to_vec()),
        _ => match name.strip_prefix("metaworld-mt1:") {
            Some(one) if MT50.contains(&one) => ("gym:Meta-World/MT1", vec![one]),
            Some(one) => {
                return Err(usage(format!(
                    "config: `benchmark` = \"{name}\": `{one}` is not a Meta-World v3 \
                     environment; they are: {}",
                    MT50.join(", ")
                )))
            }
            None => {
                return Err(usage(format!(
                    "config: `benchmark` = \"{name}\" is not a known benchmark; known: {KNOWN}"
                )))
            }
        },
    };
    Ok(names
        .into_iter()
        .map(|env_name| metaworld_task(env, env_name, seed, num_envs))
        .collect())
}

fn metaworld_task(env: &str, env_name: &str, seed: u64, num_envs: usize) -> RawTask {
    let params: BTreeMap<String, ParamValue> = [
        ("env_name", ParamValue::from(env_name)),
        ("seed", ParamValue::Number(seed as f64)),
        ("info_metrics", ParamValue::from("success")),
        ("disable_env_checker", ParamValue::Bool(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    RawTask {
        name: Some(env_name.to_string()),
        env: env.to_string(),
        params,
        num_envs,
        role: "main".to_string(),
        normalize_obs: false,
        normalize_reward: false,
        threshold: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt10_is_the_first_ten_of_metaworlds_mt10_order_and_all_in_mt50() {
        let tasks = expand("metaworld-mt10", 7, 1).unwrap();
        assert_eq!(tasks.len(), 10);
        for (task, name) in tasks.iter().zip(MT10) {
            assert_eq!(task.name.as_deref(), Some(name));
            assert_eq!(task.env, "gym:polytask/Meta-World-MT10");
            assert_eq!(task.params["env_name"], ParamValue::from(name));
            assert_eq!(task.params["seed"], ParamValue::Number(7.0));
            assert_eq!(task.params["info_metrics"], ParamValue::from("success"));
            assert!(MT50.contains(&name));
        }
        let mut unique = MT50.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 50);
        assert_eq!(expand("metaworld-mt50", 1, 2).unwrap()[49].num_envs, 2);
    }

    #[test]
    fn mt1_is_one_task_of_metaworlds_own_id() {
        let tasks = expand("metaworld-mt1:reach-v3", 3, 4).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].env, "gym:Meta-World/MT1");
        assert_eq!(tasks[0].num_envs, 4);
    }

    #[test]
    fn unknown_benchmarks_and_environments_are_named() {
        let err = expand("metaworld-mt1:reach-v2", 1, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`reach-v2`") && err.contains("reach-v3"),
            "{err}"
        );
        let err = expand("mt10", 1, 1).unwrap_err().to_string();
        assert!(
            err.contains("\"mt10\"") && err.contains("metaworld-mt10"),
            "{err}"
        );
    }
}
