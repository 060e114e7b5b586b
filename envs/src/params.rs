//! Named numeric parameters of an environment (physical constants, reward scale), so that a
//! config can declare a task family: several variants of one environment.

use std::collections::BTreeMap;

use crate::EnvError;

/// One parameter that an environment accepts, with its default and meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// The parameter's name as written in a config, e.g. `gravity`.
    pub name: &'static str,
    /// The value used when the config does not set it (the Gymnasium constant).
    pub default: f64,
    /// What it means, with its unit.
    pub doc: &'static str,
}

/// Parameter values given by a user: name to value. Names are checked against an
/// environment's [`ParamSpec`]s when the environment is made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, f64>);

impl Params {
    /// No parameters set: every environment takes its defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: impl Into<String>, value: f64) -> &mut Self {
        self.0.insert(name.into(), value);
        self
    }

    /// Builder form of [`Params::set`].
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Self {
        self.set(name, value);
        self
    }

    /// The values set, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks every name against `specs` and returns a lookup that yields the given value or
    /// the default. An unknown name is [`EnvError::UnknownParam`].
    pub fn resolve<'a>(
        &'a self,
        env: &str,
        specs: &'a [ParamSpec],
    ) -> Result<Resolved<'a>, EnvError> {
        for (name, _) in self.iter() {
            if !specs.iter().any(|s| s.name == name) {
                return Err(EnvError::UnknownParam {
                    env: env.to_string(),
                    name: name.to_string(),
                    known: names(specs),
                });
            }
        }
        Ok(Resolved {
            params: self,
            specs,
            env: env.to_string(),
        })
    }
}

impl<K: Into<String>> FromIterator<(K, f64)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, f64)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// Parameters checked against an environment's specs: every lookup succeeds.
#[derive(Debug)]
pub struct Resolved<'a> {
    params: &'a Params,
    specs: &'a [ParamSpec],
    env: String,
}

impl Resolved<'_> {
    /// The value of `name`: the user's, else the spec's default.
    ///
    /// # Panics
    /// If `name` is not among the specs: that is a bug in the environment, not user input.
    pub fn get(&self, name: &str) -> f64 {
        let spec = self.specs.iter().find(|s| s.name == name);
        let spec =
            spec.unwrap_or_else(|| panic!("{}: `{name}` is not a declared parameter", self.env));
        self.params.0.get(name).copied().unwrap_or(spec.default)
    }

    /// Like [`Resolved::get`], but the value must be finite and strictly positive.
    pub fn positive(&self, name: &str) -> Result<f64, EnvError> {
        self.check(name, |v| v > 0.0, "must be finite and greater than 0")
    }

    /// Like [`Resolved::get`], but the value must be finite.
    pub fn finite(&self, name: &str) -> Result<f64, EnvError> {
        self.check(name, |_| true, "must be finite")
    }

    /// [`Resolved::get`] with a validity test; the error names the environment and parameter.
    pub fn check(
        &self,
        name: &str,
        ok: impl Fn(f64) -> bool,
        reason: &str,
    ) -> Result<f64, EnvError> {
        let value = self.get(name);
        if value.is_finite() && ok(value) {
            Ok(value)
        } else {
            Err(EnvError::InvalidParam {
                env: self.env.clone(),
                name: name.to_string(),
                value,
                reason: reason.to_string(),
            })
        }
    }
}

fn names(specs: &[ParamSpec]) -> String {
    if specs.is_empty() {
        return "(none)".to_string();
    }
    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "gravity",
            default: 9.8,
            doc: "m/s^2",
        },
        ParamSpec {
            name: "length",
            default: 0.5,
            doc: "m",
        },
    ];

    #[test]
    fn defaults_fill_what_is_not_set() {
        let p = Params::new().with("gravity", 12.0);
        let r = p.resolve("CartPole-v1", SPECS).unwrap();
        assert_eq!(r.get("gravity"), 12.0);
        assert_eq!(r.get("length"), 0.5);
    }

    #[test]
    fn unknown_names_are_errors_that_list_the_known_ones() {
        let p = Params::new().with("gravty", 12.0);
        let err = p.resolve("CartPole-v1", SPECS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment `CartPole-v1` has no parameter `gravty`; its parameters are: gravity, length"
        );
    }

    #[test]
    fn invalid_values_name_the_parameter() {
        let p = Params::new().with("length", -1.0);
        let err = p
            .resolve("CartPole-v1", SPECS)
            .unwrap()
            .positive("length")
            .unwrap_err();
        assert!(err.to_string().contains("`length` = -1"), "{err}");
    }
}
