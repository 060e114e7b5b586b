//! Environment ids to constructors, after Gymnasium's `register` / `make`
//! (`gymnasium/envs/registration.py`): an id carries its time limit and reward threshold,
//! and `make` applies the time limit.

use std::fmt;
use std::sync::Arc;

use crate::adapters::GYM_PREFIX;
use crate::wrappers::TimeLimit;
use crate::{Env, EnvError, ParamSpec, ParamValue, Params, Resolved};

/// Builds an environment from checked parameters.
pub type MakeFn = dyn Fn(&Resolved<'_>) -> Result<Box<dyn Env>, EnvError> + Send + Sync;

/// The name of the parameter that every id accepts to override its time limit.
pub const MAX_EPISODE_STEPS: &str = "max_episode_steps";

/// A registered environment: its id, parameters and constructor.
#[derive(Clone)]
pub struct EnvSpec {
    /// The id, e.g. `CartPole-v1`.
    pub id: String,
    /// Episodes are truncated after this many steps (Gymnasium's `max_episode_steps`);
    /// `None` means no time limit.
    pub max_episode_steps: Option<u64>,
    /// The mean return at which the task counts as solved (Gymnasium's `reward_threshold`).
    pub reward_threshold: Option<f64>,
    /// The parameters the environment accepts, with defaults.
    pub params: Vec<ParamSpec>,
    /// One line saying what the environment is and what it matches.
    pub summary: String,
    make: Arc<MakeFn>,
}

impl fmt::Debug for EnvSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSpec")
            .field("id", &self.id)
            .field("max_episode_steps", &self.max_episode_steps)
            .field("reward_threshold", &self.reward_threshold)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl EnvSpec {
    /// A spec without time limit or threshold; set those with the builder methods.
    pub fn new(
        id: impl Into<String>,
        params: &[ParamSpec],
        make: impl Fn(&Resolved<'_>) -> Result<Box<dyn Env>, EnvError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            id: id.into(),
            max_episode_steps: None,
            reward_threshold: None,
            params: params.to_vec(),
            summary: String::new(),
            make: Arc::new(make),
        }
    }

    /// Sets the time limit.
    pub fn max_episode_steps(mut self, steps: u64) -> Self {
        self.max_episode_steps = Some(steps);
        self
    }

    /// Sets the solved threshold.
    pub fn reward_threshold(mut self, threshold: f64) -> Self {
        self.reward_threshold = Some(threshold);
        self
    }

    /// Sets the one-line summary.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// Makes the environment with `params`, wrapped in its time limit. `max_episode_steps`
    /// may be given among `params` to override the registered limit (0 removes it).
    pub fn make(&self, params: &Params) -> Result<Box<dyn Env>, EnvError> {
        let mut limit = self.max_episode_steps;
        let mut own = Params::new();
        for (name, value) in params.iter() {
            if name == MAX_EPISODE_STEPS {
                limit = self.parse_limit(value)?;
            } else {
                own.set(name, value.clone());
            }
        }
        let env = (self.make)(&own.resolve(&self.id, &self.params)?)?;
        Ok(match limit {
            Some(steps) => Box::new(TimeLimit::new(env, steps)),
            None => env,
        })
    }

    fn parse_limit(&self, value: &ParamValue) -> Result<Option<u64>, EnvError> {
        let Some(value) = value.as_number() else {
            return Err(EnvError::ParamType {
                env: self.id.clone(),
                name: MAX_EPISODE_STEPS.to_string(),
                value: value.to_string(),
                expected: "a whole number of steps",
            });
        };
        if value.is_finite() && value >= 0.0 && value.fract() == 0.0 {
            Ok((value > 0.0).then_some(value as u64))
        } else {
            Err(EnvError::InvalidParam {
                env: self.id.clone(),
                name: MAX_EPISODE_STEPS.to_string(),
                value,
                reason: "must be a whole number of steps (0 for no limit)".to_string(),
            })
        }
    }
}

/// A set of registered environments. [`Registry::builtin`] holds the built-in ids; users add
/// their own with [`Registry::register`].
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: Vec<EnvSpec>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding every built-in environment.
    pub fn builtin() -> Self {
        let mut registry = Self::new();
        for spec in crate::classic::specs() {
            registry.register(spec);
        }
        for spec in crate::minatar::specs() {
            registry.register(spec);
        }
        registry
    }

    /// Adds `spec`, replacing an earlier spec of the same id.
    pub fn register(&mut self, spec: EnvSpec) -> &mut Self {
        self.specs.retain(|s| s.id != spec.id);
        self.specs.push(spec);
        self
    }

    /// The spec registered under `id`.
    pub fn spec(&self, id: &str) -> Result<&EnvSpec, EnvError> {
        self.specs
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| EnvError::UnknownEnv {
                id: id.to_string(),
                known: self.ids().collect::<Vec<_>>().join(", "),
            })
    }

    /// Makes the environment registered under `id` with `params` (see [`EnvSpec::make`]).
    ///
    /// An unregistered id of the form `gym:<Gymnasium id>` makes that Python Gymnasium
    /// environment (feature `python`, see [`adapters`](crate::adapters)), with `params` as
    /// keyword arguments of `gymnasium.make` and Gymnasium's own time limit; built without
    /// the feature, such an id is an [`EnvError::External`] saying how to rebuild.
    pub fn make(&self, id: &str, params: &Params) -> Result<Box<dyn Env>, EnvError> {
        match self.spec(id) {
            Ok(spec) => spec.make(params),
            Err(_) if id.starts_with(GYM_PREFIX) => crate::adapters::make_gym(id, params),
            Err(e) => Err(e),
        }
    }

    /// The registered ids, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.specs.iter().map(|s| s.id.as_str())
    }

    /// The registered specs, in registration order.
    pub fn specs(&self) -> &[EnvSpec] {
        &self.specs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_ids_win_over_the_gym_prefix() {
        let mut registry = Registry::builtin();
        let cartpole = registry.spec("CartPole-v1").unwrap().clone();
        let mut spec = cartpole;
        spec.id = "gym:Mine-v0".to_string();
        registry.register(spec);
        let env = registry.make("gym:Mine-v0", &Params::new()).unwrap();
        assert_eq!(env.id(), "CartPole-v1");
    }

    #[cfg(not(feature = "python"))]
    #[test]
    fn gym_ids_without_the_python_feature_say_how_to_rebuild() {
        let Err(err) = Registry::builtin().make("gym:CartPole-v1", &Params::new()) else {
            panic!("a gym: id was made without the python feature");
        };
        let message = err.to_string();
        assert!(matches!(err, EnvError::External { .. }), "{message}");
        assert!(message.contains("gym:CartPole-v1"), "{message}");
        assert!(message.contains("--features python"), "{message}");
    }
}
