//! Named parameters of an environment (physical constants, reward scale), so that a config
//! can declare a task family: several variants of one environment. Built-in environments
//! take numbers only; `gym:` ids also take strings and booleans (Meta-World's
//! `env_name = "reach-v3"`), passed to `gymnasium.make` as they are.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

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

/// One parameter value as written in a config: a number, a boolean or a string (TOML's
/// `12.0`, `true`, `"reach-v3"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A number (TOML integers are read as numbers too).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Text(String),
}

impl ParamValue {
    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            ParamValue::Number(v) => Some(*v),
            _ => None,
        }
    }
}

impl From<f64> for ParamValue {
    fn from(value: f64) -> Self {
        ParamValue::Number(value)
    }
}

impl From<bool> for ParamValue {
    fn from(value: bool) -> Self {
        ParamValue::Bool(value)
    }
}

impl From<&str> for ParamValue {
    fn from(value: &str) -> Self {
        ParamValue::Text(value.to_string())
    }
}

/// As written in TOML: `12.5`, `true`, `"reach-v3"`.
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Number(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v:?}"),
        }
    }
}

/// Parameter values given by a user: name to value. Names are checked against an
/// environment's [`ParamSpec`]s when the environment is made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, ParamValue>);

impl Params {
    /// No parameters set: every environment takes its defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value` (a number, boolean or string), replacing an earlier value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<ParamValue>) -> &mut Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Builder form of [`Params::set`].
    pub fn with(mut self, name: impl Into<String>, value: impl Into<ParamValue>) -> Self {
        self.set(name, value);
        self
    }

    /// The values set, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `name` if it is set and a number.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.0.get(name).and_then(ParamValue::as_number)
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks every name against `specs` and returns a lookup that yields the given value or
    /// the default. An unknown name is [`EnvError::UnknownParam`], a value that is not a
    /// number [`EnvError::ParamType`] (the specs' parameters are numbers).
    pub fn resolve<'a>(
        &'a self,
        env: &str,
        specs: &'a [ParamSpec],
    ) -> Result<Resolved<'a>, EnvError> {
        for (name, value) in self.iter() {
            if !specs.iter().any(|s| s.name == name) {
                return Err(EnvError::UnknownParam {
                    env: env.to_string(),
                    name: name.to_string(),
                    known: names(specs),
                });
            }
            if value.as_number().is_none() {
                return Err(EnvError::ParamType {
                    env: env.to_string(),
                    name: name.to_string(),
                    value: value.to_string(),
                    expected: "a number",
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

impl<K: Into<String>, V: Into<ParamValue>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
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
        self.params.number(name).unwrap_or(spec.default)
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
    fn values_that_are_not_numbers_are_refused_by_name() {
        let p = Params::new().with("gravity", "high");
        let err = p.resolve("CartPole-v1", SPECS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment `CartPole-v1`: parameter `gravity` = \"high\" must be a number"
        );
    }

    #[test]
    fn values_read_as_numbers_booleans_and_strings() {
        let raw: BTreeMap<String, ParamValue> =
            serde_json::from_str(r#"{ "a": 3, "b": 2.5, "c": true, "d": "reach-v3" }"#).unwrap();
        let p: Params = raw.into_iter().collect();
        let values: Vec<_> = p.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(
            values,
            [
                ("a", ParamValue::Number(3.0)),
                ("b", ParamValue::Number(2.5)),
                ("c", ParamValue::Bool(true)),
                ("d", ParamValue::Text("reach-v3".into())),
            ]
        );
        assert_eq!(p.number("a"), Some(3.0));
        assert_eq!(p.number("d"), None);
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
