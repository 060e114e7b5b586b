//! Hyperparameters of a method given by name (`params = { c = 0.4 }`), shared by the
//! aggregators and the weightings: each method takes the ones it knows, with its published
//! default, and the rest are errors. Each module turns a [`ParamError`] into its own error.

use std::collections::BTreeMap;

/// What is wrong with a method's parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParamError {
    /// A value outside its range.
    Invalid {
        /// The method.
        method: String,
        /// The parameter.
        parameter: String,
        /// The value given.
        value: f64,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// A parameter the method does not have.
    Unknown {
        /// The method.
        method: String,
        /// The parameter given.
        parameter: String,
        /// The method's parameters, comma separated (`none` if it has none).
        known: String,
    },
}

/// The user's parameters for one method, consumed as the method reads them.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    method: &'a str,
    given: BTreeMap<String, f64>,
    known: Vec<&'static str>,
}

impl<'a> Params<'a> {
    /// The parameters `given` for the method `method`.
    pub(crate) fn new(method: &'a str, given: &BTreeMap<String, f64>) -> Self {
        Self {
            method,
            given: given.clone(),
            known: Vec::new(),
        }
    }

    /// The value of `name` (or `default`), which must be finite and satisfy `valid`
    /// (described by `rule`).
    pub(crate) fn get(
        &mut self,
        name: &'static str,
        default: f64,
        rule: &'static str,
        valid: impl Fn(f64) -> bool,
    ) -> Result<f64, ParamError> {
        self.known.push(name);
        let value = self.given.remove(name).unwrap_or(default);
        if value.is_finite() && valid(value) {
            Ok(value)
        } else {
            Err(ParamError::Invalid {
                method: self.method.to_string(),
                parameter: name.to_string(),
                value,
                rule,
            })
        }
    }

    /// A positive parameter.
    pub(crate) fn positive(&mut self, name: &'static str, default: f64) -> Result<f64, ParamError> {
        self.get(name, default, "must be positive", |v| v > 0.0)
    }

    /// A positive integer parameter.
    pub(crate) fn count(
        &mut self,
        name: &'static str,
        default: usize,
    ) -> Result<usize, ParamError> {
        let v = self.get(name, default as f64, "must be a positive integer", |v| {
            v >= 1.0 && v.fract() == 0.0
        })?;
        Ok(v as usize)
    }

    /// A switch given as `0` (off) or `1` (on).
    pub(crate) fn flag(&mut self, name: &'static str, default: bool) -> Result<bool, ParamError> {
        let default = if default { 1.0 } else { 0.0 };
        let v = self.get(name, default, "must be 0 (off) or 1 (on)", |v| {
            v == 0.0 || v == 1.0
        })?;
        Ok(v == 1.0)
    }

    /// Fails on the first parameter that no `get` asked for.
    pub(crate) fn finish(self) -> Result<(), ParamError> {
        match self.given.into_keys().next() {
            None => Ok(()),
            Some(parameter) => Err(ParamError::Unknown {
                method: self.method.to_string(),
                parameter,
                known: if self.known.is_empty() {
                    "none".to_string()
                } else {
                    self.known.join(", ")
                },
            }),
        }
    }
}
