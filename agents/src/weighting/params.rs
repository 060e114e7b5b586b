//! Hyperparameters of a weighting given by name (`weighting_params = { alpha = 1.5 }`): each
//! method takes the ones it knows, with its published default, and the rest are errors. The
//! same rules as the aggregators' parameters (`surgery/params.rs`).

use std::collections::BTreeMap;

use super::WeightingError;

/// The user's parameters for one weighting, consumed as the method reads them.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    weighting: &'a str,
    given: BTreeMap<String, f64>,
    known: Vec<&'static str>,
}

impl<'a> Params<'a> {
    /// The parameters `given` for the weighting `weighting`.
    pub(crate) fn new(weighting: &'a str, given: &BTreeMap<String, f64>) -> Self {
        Self {
            weighting,
            given: given.clone(),
            known: Vec::new(),
        }
    }

    /// The value of `name` (or `default`), which must be finite and satisfy `valid` (described
    /// by `rule`).
    pub(crate) fn get(
        &mut self,
        name: &'static str,
        default: f64,
        rule: &'static str,
        valid: impl Fn(f64) -> bool,
    ) -> Result<f64, WeightingError> {
        self.known.push(name);
        let value = self.given.remove(name).unwrap_or(default);
        if value.is_finite() && valid(value) {
            Ok(value)
        } else {
            Err(WeightingError::InvalidParameter {
                weighting: self.weighting.to_string(),
                parameter: name.to_string(),
                value,
                rule,
            })
        }
    }

    /// A positive parameter.
    pub(crate) fn positive(
        &mut self,
        name: &'static str,
        default: f64,
    ) -> Result<f64, WeightingError> {
        self.get(name, default, "must be positive", |v| v > 0.0)
    }

    /// A positive integer parameter.
    pub(crate) fn count(
        &mut self,
        name: &'static str,
        default: usize,
    ) -> Result<usize, WeightingError> {
        let v = self.get(name, default as f64, "must be a positive integer", |v| {
            v >= 1.0 && v.fract() == 0.0
        })?;
        Ok(v as usize)
    }

    /// A switch given as `0` (off) or `1` (on).
    pub(crate) fn flag(
        &mut self,
        name: &'static str,
        default: bool,
    ) -> Result<bool, WeightingError> {
        let v = self.get(
            name,
            if default { 1.0 } else { 0.0 },
            "must be 0 (off) or 1 (on)",
            |v| v == 0.0 || v == 1.0,
        )?;
        Ok(v == 1.0)
    }

    /// Fails on the first parameter that no `get` asked for.
    pub(crate) fn finish(self) -> Result<(), WeightingError> {
        match self.given.into_keys().next() {
            None => Ok(()),
            Some(parameter) => Err(WeightingError::UnknownParameter {
                weighting: self.weighting.to_string(),
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
