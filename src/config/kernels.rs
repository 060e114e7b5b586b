//! The `kernels` key: which implementation (host loops or libtorch) runs each of the
//! learner's CPU kernels (see `polytask_agents::kernels`).

use polytask_agents::kernels::{Backend, KernelChoice};
use serde::{Deserialize, Serialize};

use crate::error::usage;

/// `kernels` as written: `"auto"`, `"host"`, `"libtorch"`, or a table with a backend per
/// kernel (`{ tanh = "host", tanh_backward = "host", linear = "libtorch", weight_grad =
/// "host", input_grad = "host" }`), which is how a run records an `auto` choice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged, try_from = "toml::Value")]
pub enum RawKernels {
    /// `auto`, `host` or `libtorch`.
    Name(String),
    /// One backend per kernel.
    Each(KernelChoice),
}

/// What a table or a value of another type is told.
const EXPECTED: &str = "expected \"auto\", \"host\", \"libtorch\", or a table giving each of \
                        tanh, tanh_backward, linear, weight_grad and input_grad as \"host\" or \
                        \"libtorch\"";

impl TryFrom<toml::Value> for RawKernels {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(name) => Ok(Self::Name(name)),
            toml::Value::Table(table) => toml::Value::Table(table)
                .try_into()
                .map(Self::Each)
                .map_err(|e| format!("{}; {EXPECTED}", e.to_string().trim())),
            other => Err(format!("`{other}` is not a kernel setting; {EXPECTED}")),
        }
    }
}

impl Default for RawKernels {
    fn default() -> Self {
        Self::Name("auto".to_string())
    }
}

/// The checked `kernels` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelRequest {
    /// Each kernel's faster form on this machine at the run's shapes, timed once per machine
    /// and shape and cached (see `crate::train::kernels`).
    Auto,
    /// These backends.
    Pinned(KernelChoice),
}

impl RawKernels {
    /// The checked setting; an unknown name is a usage error naming the key.
    pub fn validate(&self) -> anyhow::Result<KernelRequest> {
        match self {
            Self::Each(choice) => Ok(KernelRequest::Pinned(*choice)),
            Self::Name(name) => match name.as_str() {
                "auto" => Ok(KernelRequest::Auto),
                "host" => Ok(KernelRequest::Pinned(KernelChoice::all(Backend::Host))),
                "libtorch" => Ok(KernelRequest::Pinned(KernelChoice::all(Backend::Libtorch))),
                other => Err(usage(format!(
                    "config: `kernels` = \"{other}\" is not a kernel setting; {EXPECTED} (auto \
                     is the default)"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tables_parse_and_other_names_are_refused() {
        let parse = |text: &str| {
            #[derive(Deserialize)]
            struct Doc {
                kernels: RawKernels,
            }
            toml::from_str::<Doc>(text).map(|d| d.kernels.validate())
        };
        assert_eq!(
            parse("kernels = \"auto\"").unwrap().unwrap(),
            KernelRequest::Auto
        );
        let host = KernelRequest::Pinned(KernelChoice::all(Backend::Host));
        assert_eq!(parse("kernels = \"host\"").unwrap().unwrap(), host);
        let table = "kernels = { tanh = \"host\", tanh_backward = \"host\", linear = \
                     \"libtorch\", weight_grad = \"host\", input_grad = \"host\" }";
        let KernelRequest::Pinned(choice) = parse(table).unwrap().unwrap() else {
            panic!("a table pins the choice");
        };
        assert_eq!(choice.linear, Backend::Libtorch);
        assert_eq!(choice.tanh, Backend::Host);
        let err = parse("kernels = \"fast\"")
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(err.contains("`kernels`") && err.contains("fast"), "{err}");
        assert!(
            parse("kernels = { tanh = \"host\" }").is_err(),
            "every kernel named"
        );
    }
}
