//! Hyperparameters of an aggregator given by name (`aggregator_params = { c = 0.4 }`): each
//! method takes the ones it knows, with its published default, and the rest are errors.

use std::collections::BTreeMap;

use super::SurgeryError;

/// The user's parameters for one aggregator, consumed as the method reads them.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    aggregator: &'a str,
    given: BTreeMap<String, f64>,
    known: Vec<&'static str>,
}

impl<'a> Params<'a> {
    /// The parameters `given` for the aggregator `aggregator`.
    pub(crate) fn new(aggregator: &'a str, given: &BTreeMap<String, f64>) -> Self {
        Self {
            aggregator,
            given: given.clone(),
            known: Vec::new(),
        }
    }

    /// The value of `name` (or `default`), which must satisfy `valid` (described by `rule`).
    pub(crate) fn get(
        &mut self,
        name: &'static str,
        default: f64,
        rule: &'static str,
        valid: impl Fn(f64) -> bool,
    ) -> Result<f64, SurgeryError> {
        self.known.push(name);
        let value = self.given.remove(name).unwrap_or(default);
        if value.is_finite() && valid(value) {
            Ok(value)
        } else {
            Err(SurgeryError::InvalidParameter {
                aggregator: self.aggregator.to_string(),
                parameter: name.to_string(),
                value,
                rule,
            })
        }
    }

    /// A positive integer parameter.
    pub(crate) fn count(
        &mut self,
        name: &'static str,
        default: usize,
    ) -> Result<usize, SurgeryError> {
        let v = self.get(name, default as f64, "must be a positive integer", |v| {
            v >= 1.0 && v.fract() == 0.0
        })?;
        Ok(v as usize)
    }

    /// Fails on the first parameter that no `get` asked for.
    pub(crate) fn finish(self) -> Result<(), SurgeryError> {
        match self.given.into_keys().next() {
            None => Ok(()),
            Some(parameter) => Err(SurgeryError::UnknownParameter {
                aggregator: self.aggregator.to_string(),
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
