//! How the `python` feature finds Python Gymnasium.
//!
//! polytask embeds CPython through pyo3: the interpreter is the `libpython` that polytask was
//! built against (pyo3 picks it at build time from `PYO3_PYTHON`, else `python3` on `PATH`),
//! started on first use in the process and never stopped. On start it has its own standard
//! `sys.path` (which honours `PYTHONPATH`). To that, once per process, polytask appends the
//! `sys.path` entries of one more Python interpreter, so that the packages of a virtual
//! environment are found. That interpreter is, in this order:
//!
//! 1. the executable named by `POLYTASK_PYTHON` (see [`POLYTASK_PYTHON`]);
//! 2. else `$VIRTUAL_ENV/bin/python`, when a virtual environment is activated;
//! 3. else `python3` on `PATH`, if it exists and has the embedded interpreter's version.
//!
//! In cases 1 and 2 the interpreter must run and have the same `major.minor` version as the
//! embedded one (compiled packages such as NumPy are specific to it); otherwise making a
//! `gym:` environment fails with a message saying so. The helper module
//! (`gym_adapter.py`, which imports `gymnasium` and `numpy`) is then imported; if that fails,
//! the error is one paragraph naming what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyList;

/// The environment variable naming a Python executable (typically a virtual environment's
/// `bin/python`) whose `sys.path` the embedded interpreter adds, so that its `gymnasium`
/// is used.
pub const POLYTASK_PYTHON: &str = "POLYTASK_PYTHON";

/// The Python side of the adapter, compiled into the binary.
const HELPER: &str = include_str!("gym_adapter.py");

/// Prints the interpreter's `major.minor` version, then its `sys.path`, one entry a line.
const QUERY: &str =
    "import sys\nprint('%d.%d' % sys.version_info[:2])\nfor p in sys.path:\n    print(p)";

/// The other interpreter whose packages are added, and how it was chosen.
struct Source {
    python: PathBuf,
    origin: &'static str,
    /// Whether the user asked for it explicitly (then failing to use it is an error).
    required: bool,
}

fn source() -> Source {
    if let Some(python) = std::env::var_os(POLYTASK_PYTHON).filter(|p| !p.is_empty()) {
        return Source {
            python: python.into(),
            origin: "POLYTASK_PYTHON",
            required: true,
        };
    }
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|p| !p.is_empty()) {
        return Source {
            python: PathBuf::from(venv).join("bin/python"),
            origin: "VIRTUAL_ENV, the activated virtual environment",
            required: true,
        };
    }
    Source {
        python: "python3".into(),
        origin: "python3 on PATH",
        required: false,
    }
}

/// Runs `python` and returns its `major.minor` version and its `sys.path`.
fn query(python: &Path) -> Result<(String, Vec<String>), String> {
    let out = Command::new(python)
        .args(["-c", QUERY])
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "it failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().to_string();
    let paths = lines.filter(|p| !p.is_empty()).map(String::from).collect();
    Ok((version, paths))
}

/// The helper module, imported once per process with the packages of [`source`] visible;
/// the error is a message for the user. Call it without holding the GIL.
pub(super) fn helper() -> Result<&'static Py<PyModule>, String> {
    static HELPER_MODULE: OnceLock<Result<Py<PyModule>, String>> = OnceLock::new();
    HELPER_MODULE
        .get_or_init(import_helper)
        .as_ref()
        .map_err(Clone::clone)
}

fn import_helper() -> Result<Py<PyModule>, String> {
    let source = source();
    let queried = query(&source.python);
    Python::with_gil(|py| {
        let info = py.version_info();
        let embedded = format!("{}.{}", info.major, info.minor);
        let shown = source.python.display();
        let mut searched = format!("the embedded Python {embedded}'s own sys.path");
        match queried {
            Ok((version, paths)) if version == embedded => {
                add_paths(py, &paths).map_err(|e| format!("cannot extend sys.path: {e}"))?;
                searched = format!("{searched} and that of {shown} ({})", source.origin);
            }
            Ok((version, _)) if source.required => {
                return Err(format!(
                    "{shown} (from {}) is Python {version}, but polytask was built against \
                     Python {embedded} and can only use packages installed for that version; \
                     point {POLYTASK_PYTHON} at a Python {embedded} interpreter (e.g. a \
                     virtual environment made with `python{embedded} -m venv`), or rebuild \
                     polytask with PYO3_PYTHON set to a Python {version}",
                    source.origin
                ));
            }
            Err(e) if source.required => {
                return Err(format!(
                    "{shown} (from {}) cannot tell its sys.path: {e}; point {POLYTASK_PYTHON} \
                     at a Python {embedded} executable",
                    source.origin
                ));
            }
            _ => {}
        }
        PyModule::from_code(py, HELPER, "gym_adapter.py", "polytask_gym_adapter")
            .map(Into::into)
            .map_err(|e| {
                format!(
                    "Python Gymnasium is not importable ({e}; searched {searched}). Install \
                     `gymnasium` (and `numpy`) for a Python {embedded} and point polytask at \
                     that interpreter, e.g. `python{embedded} -m venv ~/.venvs/gym && \
                     ~/.venvs/gym/bin/pip install \"gymnasium==1.4.*\"`, then \
                     `export {POLYTASK_PYTHON}=~/.venvs/gym/bin/python` (or activate the \
                     venv); environments with extra dependencies need their extras too, e.g. \
                     `pip install \"gymnasium[box2d]==1.4.*\"` for LunarLander-v3"
                )
            })
    })
}

/// Appends the entries of `paths` that `sys.path` lacks, in order.
fn add_paths(py: Python<'_>, paths: &[String]) -> PyResult<()> {
    let sys_path: &PyList = py.import("sys")?.getattr("path")?.downcast()?;
    let present: Vec<String> = sys_path.extract()?;
    for path in paths {
        if !present.contains(path) {
            sys_path.append(path)?;
        }
    }
    Ok(())
}
