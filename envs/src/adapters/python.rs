//! Python Gymnasium environments as polytask [`Env`]s: the id `gym:<Gymnasium id>` makes
//! `gymnasium.make("<Gymnasium id>", **params)` inside an embedded CPython (pyo3).
//!
//! - Spaces: Gymnasium's `Discrete(n, start)` becomes [`Space::Discrete`]`(n)` (indices are
//!   shifted by `start` both ways) and `Box` becomes [`Space::Box`] with its bounds as `f32`
//!   and its shape; observations of any dtype are converted to `f32`, a `Box` action space
//!   must have a floating dtype. Any other space (`Tuple`, `Dict`, `MultiDiscrete`, ...) is
//!   rejected when the environment is made, with an error naming the id and the space.
//! - Parameters: passed to `gymnasium.make` as keyword arguments; a whole number is passed as
//!   a Python `int`, any other number as a `float`, booleans and strings as they are
//!   (`env_name = "reach-v3"`). `max_episode_steps` thus overrides Gymnasium's time limit; it
//!   must be a positive whole number (Gymnasium's `make` cannot remove a registered limit).
//! - Metrics: the polytask parameter [`INFO_METRICS`] (`info_metrics = "success"`, names
//!   separated by commas; not passed to `gymnasium.make`) names entries of the step's `info`
//!   dict that become the environment's [`Env::metrics`], e.g. Meta-World's `success`. Each
//!   must be in every step's `info` as a number or boolean, else the step fails naming it.
//!   After a reset they are 0.
//! - Time limits: `gymnasium.make` applies the id's registered `TimeLimit`, whose
//!   `truncated` flag maps to [`Step::truncated`]; polytask's registry adds no limit of its
//!   own to `gym:` ids.
//! - Seeding: `reset(Some(seed))` calls `env.reset(seed=seed)` and `reset(None)`
//!   `env.reset()`, so `gym:CartPole-v1` and polytask's `CartPole-v1` start from the same
//!   state for the same seed.
//! - Threads and processes: each call takes the GIL, so in one process Python environments
//!   step one at a time however many worker threads the vector env has; native environments
//!   in the same run are not slowed (they never take the GIL). To step them in parallel, the
//!   vector env of the root crate hosts `gym:` rows in worker processes (config key
//!   `python_workers`), each its own interpreter and GIL, running this same adapter. The
//!   per-step cost is a Python call, see the throughput figures in docs/custom-envs.md and
//!   docs/performance.md.
//! - Errors: a Python exception in `step` is an [`EnvError::External`] holding it and its
//!   traceback. `reset` cannot fail, so an exception there is kept and returned by the next
//!   `step`.
//! - Saved state: Gymnasium's `Env` API has no call that saves and restores an environment's
//!   dynamic state (physics, `np_random`, its wrappers' counters), and not every environment
//!   can be pickled, so [`Env::save_state`] keeps its default `None`; a resumed training run
//!   starts fresh episodes for `gym:` ids.
//!
//! Where the interpreter finds `gymnasium` is described in `python_path.rs` and docs/custom-envs.md.

use pyo3::buffer::PyBuffer;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::python_path::helper;
use super::GYM_PREFIX;
use crate::MAX_EPISODE_STEPS;
use crate::{invalid_action, Action, BoxSpace, Env, EnvError, ParamValue, Params, Space, Step};

/// The parameter of a `gym:` id that names the `info` entries read as metrics (see the
/// module documentation); polytask's own, never passed to `gymnasium.make`.
pub const INFO_METRICS: &str = "info_metrics";

/// A Python Gymnasium environment, made by `gymnasium.make` and stepped through the GIL.
pub struct PythonEnv {
    /// `gym:<Gymnasium id>`.
    id: String,
    /// The helper's `Adapter` around the Gymnasium environment.
    adapter: Py<PyAny>,
    observation_space: Space,
    action_space: Space,
    reset_done: bool,
    /// Steps since the last reset, for error messages.
    steps: u64,
    /// An exception raised by `reset`, returned by the next `step`.
    fault: Option<String>,
    /// The `info` entries read as metrics ([`INFO_METRICS`]).
    metric_names: Vec<String>,
    /// Their values after the latest step.
    metric_values: Vec<f32>,
}

/// The version of the Python Gymnasium that `gym:` ids use (`gymnasium.__version__`), or
/// the error saying why it cannot be imported and what to install.
pub fn gymnasium_version() -> Result<String, EnvError> {
    let external = |message: String| EnvError::External {
        env: GYM_PREFIX.to_string(),
        message,
    };
    let helper = helper().map_err(external)?;
    Python::with_gil(|py| {
        let version = helper
            .getattr(py, "gymnasium")
            .and_then(|g| g.getattr(py, "__version__"))
            .and_then(|v| v.extract::<String>(py));
        version.map_err(|e| external(describe_error(py, e)))
    })
}

impl PythonEnv {
    /// Makes the Gymnasium environment named by `id` (`gym:CartPole-v1`; the prefix may be
    /// left out) with `params` as keyword arguments of `gymnasium.make`. Fails with
    /// [`EnvError::External`] when Gymnasium is not importable, `gymnasium.make` raises, or a
    /// space is not `Discrete` or `Box`, and with [`EnvError::InvalidParam`] for a
    /// non-finite parameter or a `max_episode_steps` that is not a positive whole number.
    pub fn make(id: &str, params: &Params) -> Result<Self, EnvError> {
        let gym_id = id.strip_prefix(GYM_PREFIX).unwrap_or(id);
        let id = format!("{GYM_PREFIX}{gym_id}");
        check_params(&id, params)?;
        let metric_names = metric_names(params);
        let external = |message: String| EnvError::External {
            env: id.clone(),
            message,
        };
        let helper = helper().map_err(external)?;
        Python::with_gil(|py| {
            let kwargs = PyDict::new(py);
            for (name, value) in params.iter().filter(|(name, _)| *name != INFO_METRICS) {
                kwargs
                    .set_item(name, python_value(py, value))
                    .map_err(|e| external(describe_error(py, e)))?;
            }
            let env = helper
                .call_method1(py, "make", (gym_id, kwargs))
                // Without the traceback: this is usually a wrong id or keyword, reported as a
                // one-paragraph usage error.
                .map_err(|e| external(format!("gymnasium.make failed: {e}")))?;
            let spaces = translate_spaces(py, helper, &env, &id);
            let ((observation_space, obs_start), (action_space, action_start)) = match spaces {
                Ok(spaces) => spaces,
                Err(e) => {
                    // Best effort: the error being returned matters more than one from close.
                    let _ = env.call_method0(py, "close");
                    return Err(e);
                }
            };
            let keys = metric_names.clone();
            let adapter = helper
                .call_method1(py, "Adapter", (env, obs_start, action_start, keys))
                .map_err(|e| external(describe_error(py, e)))?;
            Ok(Self {
                id: id.clone(),
                adapter,
                observation_space,
                action_space,
                reset_done: false,
                steps: 0,
                fault: None,
                metric_values: vec![0.0; metric_names.len()],
                metric_names,
            })
        })
    }

    fn external(&self, message: String) -> EnvError {
        EnvError::External {
            env: self.id.clone(),
            message,
        }
    }
}

/// The names listed by [`INFO_METRICS`], in order, without blanks.
fn metric_names(params: &Params) -> Vec<String> {
    params
        .iter()
        .find_map(|(name, value)| match value {
            ParamValue::Text(list) if name == INFO_METRICS => Some(list),
            _ => None,
        })
        .map_or_else(Vec::new, |list| {
            list.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from)
                .collect()
        })
}

fn check_params(id: &str, params: &Params) -> Result<(), EnvError> {
    let type_error = |name: &str, value: &ParamValue, expected| EnvError::ParamType {
        env: id.to_string(),
        name: name.to_string(),
        value: value.to_string(),
        expected,
    };
    for (name, value) in params.iter() {
        let value = match (name, value) {
            (INFO_METRICS, ParamValue::Text(_)) => continue,
            (INFO_METRICS, _) => {
                return Err(type_error(
                    name,
                    value,
                    "a string of `info` keys, e.g. \"success\"",
                ))
            }
            (MAX_EPISODE_STEPS, ParamValue::Number(v)) | (_, ParamValue::Number(v)) => *v,
            (MAX_EPISODE_STEPS, _) => {
                return Err(type_error(name, value, "a positive whole number of steps"))
            }
            _ => continue,
        };
        let reason = if !value.is_finite() {
            "must be finite"
        } else if name == MAX_EPISODE_STEPS && (value < 1.0 || value.fract() != 0.0) {
            "must be a positive whole number of steps for a `gym:` id (Gymnasium's make cannot \
             remove a registered time limit)"
        } else {
            continue;
        };
        return Err(EnvError::InvalidParam {
            env: id.to_string(),
            name: name.to_string(),
            value,
            reason: reason.to_string(),
        });
    }
    Ok(())
}

/// A whole number as a Python `int`, any other number as a `float`, booleans and strings as
/// Python's.
fn python_value(py: Python<'_>, value: &ParamValue) -> PyObject {
    match value {
        ParamValue::Number(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => (*v as i64).into_py(py),
        ParamValue::Number(v) => v.into_py(py),
        ParamValue::Bool(b) => b.into_py(py),
        ParamValue::Text(t) => t.into_py(py),
    }
}

/// The translated observation and action spaces, each with its `Discrete` start (0 for Box).
type Spaces = ((Space, i64), (Space, i64));

fn translate_spaces(
    py: Python<'_>,
    helper: &Py<PyModule>,
    env: &PyObject,
    id: &str,
) -> Result<Spaces, EnvError> {
    let space = |which: &str, attr: &str| -> Result<(Space, i64), EnvError> {
        let described = env
            .getattr(py, attr)
            .and_then(|s| helper.call_method1(py, "describe", (s,)));
        let described = described.map_err(|e| EnvError::External {
            env: id.to_string(),
            message: format!("cannot read its {which} space: {}", describe_error(py, e)),
        })?;
        translate(described.as_ref(py), which).map_err(|message| EnvError::External {
            env: id.to_string(),
            message,
        })
    };
    Ok((
        space("observation", "observation_space")?,
        space("action", "action_space")?,
    ))
}

/// Reads the helper's `describe` tuple into a polytask space (and `Discrete` start).
fn translate(described: &PyAny, which: &str) -> Result<(Space, i64), String> {
    let unreadable = |e: PyErr| format!("cannot read its {which} space: {e}");
    let t: &PyTuple = described.downcast().map_err(|e| unreadable(e.into()))?;
    let kind: String = t
        .get_item(0)
        .and_then(|k| k.extract())
        .map_err(unreadable)?;
    match kind.as_str() {
        "discrete" => {
            let (_, n, start): (String, i64, i64) = t.extract().map_err(unreadable)?;
            let n = usize::try_from(n).map_err(|_| format!("its {which} space has n = {n}"))?;
            Ok((Space::Discrete(n), start))
        }
        "box" => {
            let (_, low, high, shape, floating): (String, Vec<f32>, Vec<f32>, Vec<usize>, bool) =
                t.extract().map_err(unreadable)?;
            let space = Space::Box(BoxSpace { low, high, shape });
            if which == "action" && !floating {
                return Err(format!(
                    "its action space {space} has an integer dtype; polytask's Box actions are \
                     real-valued, so only floating Box action spaces are supported"
                ));
            }
            Ok((space, 0))
        }
        _ => {
            let text: String = t
                .get_item(1)
                .and_then(|s| s.extract())
                .map_err(unreadable)?;
            Err(format!(
                "its {which} space {text} is not supported: polytask maps Gymnasium's Discrete \
                 and Box spaces only"
            ))
        }
    }
}

/// A Python exception as `Type: message`, followed by its traceback when there is one.
fn describe_error(py: Python<'_>, err: PyErr) -> String {
    match err.traceback(py).and_then(|tb| tb.format().ok()) {
        Some(tb) => format!("{err}\n{}", tb.trim_end()),
        None => err.to_string(),
    }
}

/// Copies the flat `float32` array `array` into `obs`; the error describes a length mismatch.
fn copy_obs(py: Python<'_>, array: &PyAny, obs: &mut [f32]) -> Result<(), String> {
    let buffer = PyBuffer::<f32>::get(array).map_err(|e| describe_error(py, e))?;
    if buffer.item_count() != obs.len() {
        return Err(format!(
            "an observation of {} values; its observation space holds {}",
            buffer.item_count(),
            obs.len()
        ));
    }
    buffer
        .copy_to_slice(py, obs)
        .map_err(|e| describe_error(py, e))
}

impl Env for PythonEnv {
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        self.reset_done = true;
        self.steps = 0;
        self.metric_values.fill(0.0);
        self.fault = Python::with_gil(|py| {
            let first = self
                .adapter
                .call_method1(py, intern!(py, "reset"), (seed,))
                .map_err(|e| format!("reset raised {}", describe_error(py, e)))?;
            copy_obs(py, first.as_ref(py), obs).map_err(|p| format!("reset returned {p}"))
        })
        .err();
    }

    fn metric_names(&self) -> &[String] {
        &self.metric_names
    }

    fn metrics(&self) -> &[f32] {
        &self.metric_values
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        if !self.reset_done {
            return Err(EnvError::NeedsReset {
                env: self.id.clone(),
                when: "before reset",
            });
        }
        if let Some(problem) = self.fault.take() {
            return Err(self.external(problem));
        }
        let valid = match (action, &self.action_space) {
            (Action::Discrete(a), Space::Discrete(n)) => a < *n,
            (Action::Continuous(v), Space::Box(b)) => {
                v.len() == b.low.len() && v.iter().all(|x| x.is_finite())
            }
            _ => false,
        };
        if !valid {
            return Err(invalid_action(&self.id, action, &self.action_space));
        }
        self.steps += 1;
        let step = self.steps;
        let metrics = &mut self.metric_values;
        Python::with_gil(|py| {
            let arg: PyObject = match action {
                Action::Discrete(a) => (a as u64).into_py(py),
                Action::Continuous(v) => PyList::new(py, v.iter().map(|&x| f64::from(x))).into(),
            };
            let out = self
                .adapter
                .call_method1(py, intern!(py, "step"), (arg,))
                .map_err(|e| format!("step {step} raised {}", describe_error(py, e)))?;
            let (next, reward, terminated, truncated, values): (&PyAny, f64, bool, bool, &PyAny) =
                out.extract(py)
                    .map_err(|e| format!("step {step}: {}", describe_error(py, e)))?;
            copy_obs(py, next, obs).map_err(|p| format!("step {step} returned {p}"))?;
            if !metrics.is_empty() {
                copy_obs(py, values, metrics).map_err(|p| format!("step {step} returned {p}"))?;
            }
            Ok(Step {
                reward,
                terminated,
                truncated,
            })
        })
        .map_err(|message| self.external(message))
    }
}

/// Closes the Gymnasium environment (`env.close()`), as Gymnasium does when it is dropped.
impl Drop for PythonEnv {
    fn drop(&mut self) {
        Python::with_gil(|py| {
            // Nothing can act on a failure to close while dropping; the environment is gone.
            let _ = self.adapter.call_method0(py, "close");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_become_ints_and_others_floats_bools_and_strs() {
        Python::with_gil(|py| {
            let type_of = |v: ParamValue| {
                let object = python_value(py, &v);
                let name = object.as_ref(py).get_type().name().unwrap().to_string();
                (name, object)
            };
            let (name, int) = type_of(500.0.into());
            assert_eq!(name, "int");
            assert_eq!(int.extract::<i64>(py).unwrap(), 500);
            assert_eq!(type_of(9.5.into()).0, "float");
            assert_eq!(type_of(true.into()).0, "bool");
            let (name, text) = type_of("reach-v3".into());
            assert_eq!(name, "str");
            assert_eq!(text.extract::<String>(py).unwrap(), "reach-v3");
        });
    }

    #[test]
    fn info_metrics_are_a_comma_separated_list() {
        let params = Params::new().with(INFO_METRICS, " success, near_object ,");
        assert_eq!(metric_names(&params), ["success", "near_object"]);
        assert!(metric_names(&Params::new()).is_empty());
        assert!(check_params("gym:X-v0", &params).is_ok());
        let err = check_params("gym:X-v0", &Params::new().with(INFO_METRICS, 1.0)).unwrap_err();
        assert!(matches!(err, EnvError::ParamType { .. }), "{err}");
        let err =
            check_params("gym:X-v0", &Params::new().with(MAX_EPISODE_STEPS, "x")).unwrap_err();
        assert!(err.to_string().contains(MAX_EPISODE_STEPS), "{err}");
    }

    #[test]
    fn bad_params_are_rejected_before_python_runs() {
        let check =
            |name: &str, value: f64| check_params("gym:X-v0", &Params::new().with(name, value));
        assert!(check(MAX_EPISODE_STEPS, 100.0).is_ok() && check("gravity", 9.0).is_ok());
        for (name, value) in [
            (MAX_EPISODE_STEPS, 0.0),
            (MAX_EPISODE_STEPS, 2.5),
            ("g", f64::NAN),
        ] {
            let err = check(name, value).unwrap_err();
            assert!(matches!(err, EnvError::InvalidParam { .. }), "{err}");
            assert!(err.to_string().contains("gym:X-v0"), "{err}");
        }
    }

    #[test]
    fn spaces_are_translated_or_rejected_by_name() {
        Python::with_gil(|py| {
            let t = |code: &str| py.eval(code, None, None).unwrap();
            assert_eq!(
                translate(t("('discrete', 3, 1)"), "action").unwrap(),
                (Space::Discrete(3), 1)
            );
            let (space, _) = translate(
                t("('box', [-1.0, 0.0], [1.0, 2.0], [2], True)"),
                "observation",
            )
            .unwrap();
            assert_eq!(
                space,
                Space::Box(BoxSpace::new(vec![-1.0, 0.0], vec![1.0, 2.0]))
            );
            let err = translate(t("('box', [0.0], [9.0], [1], False)"), "action").unwrap_err();
            assert!(err.contains("integer dtype"), "{err}");
            let err = translate(
                t("('other', 'Tuple(Discrete(2), Discrete(3))')"),
                "observation",
            )
            .unwrap_err();
            assert!(err.contains("Tuple(Discrete(2), Discrete(3))"), "{err}");
        });
    }
}
