//! Run configuration, in two stages: [`RawConfig`] is what a TOML file says (unknown keys are
//! errors), [`Config`] is the checked result with every environment id and parameter known
//! to exist.

use std::collections::BTreeMap;
use std::path::Path;

use polytask_envs::{Params, Registry};
use serde::{Deserialize, Serialize};

use crate::error::usage;

/// A run configuration as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Seed of every random choice of the run (environments, network, sampling).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Environment steps to take per task (summed over that task's environments).
    pub total_timesteps: u64,
    /// The tasks, at least one.
    pub tasks: Vec<RawTask>,
}

fn default_seed() -> u64 {
    1
}

/// One task as written in TOML: an environment id with parameters and a number of copies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// The task's name in logs and reports; defaults to the environment id.
    pub name: Option<String>,
    /// Registered environment id, e.g. `CartPole-v1` (see `polytask envs`).
    pub env: String,
    /// Environment parameters, e.g. `{ gravity = 12.0 }`.
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
    /// Number of environment copies stepped in parallel for this task.
    #[serde(default = "default_num_envs")]
    pub num_envs: usize,
}

fn default_num_envs() -> usize {
    8
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// As [`RawConfig::seed`].
    pub seed: u64,
    /// As [`RawConfig::total_timesteps`].
    pub total_timesteps: u64,
    /// The tasks, with unique names.
    pub tasks: Vec<Task>,
}

/// A checked task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Unique name.
    pub name: String,
    /// Environment id, known to the registry.
    pub env: String,
    /// Parameters, accepted by the environment.
    pub params: Params,
    /// Number of environment copies, at least 1.
    pub num_envs: usize,
}

impl RawConfig {
    /// Reads and parses a TOML file; errors name the file, and the key for unknown keys.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        toml::from_str(&text).map_err(|e| {
            let message = e.to_string().replace('\n', " ");
            usage(format!(
                "config file {}: {}",
                path.display(),
                message.trim()
            ))
        })
    }

    /// Checks the configuration against `registry`; errors name the offending key.
    pub fn validate(self, registry: &Registry) -> anyhow::Result<Config> {
        if self.tasks.is_empty() {
            return Err(usage(
                "config: `tasks` is empty; declare at least one [[tasks]] table",
            ));
        }
        if self.total_timesteps == 0 {
            return Err(usage("config: `total_timesteps` must be greater than 0"));
        }
        let mut tasks: Vec<Task> = Vec::with_capacity(self.tasks.len());
        for (i, raw) in self.tasks.into_iter().enumerate() {
            let task = raw.validate(i, registry)?;
            if tasks.iter().any(|t| t.name == task.name) {
                return Err(usage(format!(
                    "config: tasks[{i}].name `{}` is used by an earlier task; give each task a unique `name`",
                    task.name
                )));
            }
            tasks.push(task);
        }
        Ok(Config {
            seed: self.seed,
            total_timesteps: self.total_timesteps,
            tasks,
        })
    }
}

impl RawTask {
    fn validate(self, index: usize, registry: &Registry) -> anyhow::Result<Task> {
        let params: Params = self.params.into_iter().collect();
        registry
            .make(&self.env, &params)
            .map_err(|e| usage(format!("config: tasks[{index}] (env `{}`): {e}", self.env)))?;
        if self.num_envs == 0 {
            return Err(usage(format!(
                "config: tasks[{index}].num_envs must be at least 1"
            )));
        }
        Ok(Task {
            name: self.name.unwrap_or_else(|| self.env.clone()),
            env: self.env,
            params,
            num_envs: self.num_envs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> anyhow::Result<Config> {
        let raw: RawConfig = toml::from_str(text)?;
        raw.validate(&Registry::builtin())
    }

    #[test]
    fn defaults_fill_a_minimal_config() {
        let c = check("total_timesteps = 1000\n[[tasks]]\nenv = \"CartPole-v1\"").unwrap();
        assert_eq!((c.seed, c.tasks.len()), (1, 1));
        assert_eq!(
            (c.tasks[0].name.as_str(), c.tasks[0].num_envs),
            ("CartPole-v1", 8)
        );
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = "total_timesteps = 1\nlearning_rat = 1\n[[tasks]]\nenv = \"CartPole-v1\"";
        let err = toml::from_str::<RawConfig>(unknown)
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rat"), "{err}");
        let err = check("total_timesteps = 1\n[[tasks]]\nenv = \"Nope-v0\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tasks[0]") && err.contains("Nope-v0"), "{err}");
        let bad = "total_timesteps = 1\n[[tasks]]\nenv = \"CartPole-v1\"\nparams = { gravty = 1 }";
        assert!(check(bad).unwrap_err().to_string().contains("gravty"));
        let twice = "total_timesteps = 1\n[[tasks]]\nenv = \"CartPole-v1\"\n[[tasks]]\nenv = \"CartPole-v1\"";
        assert!(check(twice).unwrap_err().to_string().contains("unique"));
    }
}
