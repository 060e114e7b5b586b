//! The learner's kernel choice for a run (see `polytask_agents::kernels`): a resumed run
//! keeps the choice its checkpoint recorded; otherwise `kernels = "host"`, `"libtorch"` or a
//! table pins it, and `"auto"` takes the faster form of each kernel on this machine at the
//! run's shapes.
//!
//! `auto` times the kernels once per machine and shape ([`polytask_agents::calibrate`], a
//! few tens of milliseconds) and caches the choice in `kernels.toml` of the user's cache
//! folder (where libtorch is installed), keyed by CPU model, polytask version and build, and
//! shape,
//! under an exclusive lock: every later run of that shape on the machine, and every job of a
//! comparison, makes the same choice, so two runs with one seed stay identical whatever the
//! timing noise of the day. Delete the file to calibrate again.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::Context;
use polytask_agents::calibrate::{calibrate, LayerShapes};
use polytask_agents::kernels::KernelChoice;

use crate::config::{Config, KernelRequest};

/// Rounds of a calibration: each times one call of every kernel both ways.
pub const CALIBRATION_ROUNDS: usize = 200;

/// The cache file's name inside the cache folder.
const CACHE_FILE: &str = "kernels.toml";

/// The kernel choice of a run of `config` on `device`: `recorded` (a checkpoint's) if any,
/// else as `config.kernels` says; libtorch's everywhere on CUDA, where no host kernel runs.
pub fn resolve(
    config: &Config,
    device: tch::Device,
    recorded: Option<KernelChoice>,
) -> anyhow::Result<KernelChoice> {
    Ok(match (recorded, config.kernels) {
        (Some(choice), _) | (None, KernelRequest::Pinned(choice)) => choice,
        (None, KernelRequest::Auto) if device.is_cuda() => KernelChoice::default(),
        (None, KernelRequest::Auto) => calibrated(&layer_shapes(config))?,
    })
}

/// The shapes of `config`'s learner step that a calibration times: the first shared layer
/// (the stem's width to itself without one) on one minibatch of every task.
pub fn layer_shapes(config: &Config) -> LayerShapes {
    let hidden = &config.network.hidden;
    let alg = &config.algorithm;
    let rows = config.tasks.iter().map(|t| {
        let rollout = alg.num_steps * t.num_envs;
        (rollout / alg.num_minibatches.max(1)).max(1) as i64
    });
    LayerShapes {
        towers: if config.network.shared_critic { 1 } else { 2 },
        rows: rows.collect(),
        inputs: hidden[0],
        out: *hidden.get(1).unwrap_or(&hidden[0]),
    }
}

/// The cached choice for `shapes` on this machine, calibrating (and caching) it first if
/// there is none. Without a usable cache folder the calibration is not kept.
pub fn calibrated(shapes: &LayerShapes) -> anyhow::Result<KernelChoice> {
    calibrated_in(cache_folder().as_deref(), shapes)
}

/// [`calibrated`] with the cache in `folder`.
fn calibrated_in(folder: Option<&Path>, shapes: &LayerShapes) -> anyhow::Result<KernelChoice> {
    let Some(folder) = folder else {
        return Ok(calibrate(shapes, CALIBRATION_ROUNDS).choice());
    };
    if std::fs::create_dir_all(folder).is_err() {
        return Ok(calibrate(shapes, CALIBRATION_ROUNDS).choice());
    }
    let _lock = lock(&folder.join("kernels.lock"))?;
    let path = folder.join(CACHE_FILE);
    let mut cache = read_cache(&path)?;
    let key = cache_key(shapes);
    if let Some(choice) = cache.get(&key).and_then(|v| v.clone().try_into().ok()) {
        return Ok(choice);
    }
    let choice = calibrate(shapes, CALIBRATION_ROUNDS).choice();
    let entry = toml::Value::try_from(choice).expect("a kernel choice serialises");
    cache.insert(key, entry);
    let text = toml::to_string(&cache).expect("a table serialises");
    crate::durable::replace_file(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(choice)
}

/// The cache entry's key: what the timings depend on (a debug build's host loops are
/// slower than a release build's).
fn cache_key(shapes: &LayerShapes) -> String {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{} | polytask {} {build} | {} towers, rows {:?}, {}x{}",
        crate::cpu::model(),
        env!("CARGO_PKG_VERSION"),
        shapes.towers,
        shapes.rows,
        shapes.inputs,
        shapes.out
    )
}

/// `$POLYTASK_CACHE`, else `$XDG_CACHE_HOME/polytask`, else `$HOME/.cache/polytask`: the
/// folder `scripts/libtorch.sh` installs into.
fn cache_folder() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("POLYTASK_CACHE").map(PathBuf::from).or_else(|| {
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("polytask"))
    })
}

/// Holds an exclusive lock on `path` (created if missing) until dropped.
fn lock(path: &Path) -> anyhow::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// The cache's entries; a missing file is empty, and an unreadable one (from another
/// version, or damaged) is started afresh.
fn read_cache(path: &Path) -> anyhow::Result<toml::Table> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(toml::from_str(&text).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibration_is_cached_and_reused() {
        let dir = std::env::temp_dir().join(format!("polytask-kernels-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let shapes = LayerShapes {
            towers: 2,
            rows: vec![16],
            inputs: 8,
            out: 8,
        };
        let first = calibrated_in(Some(&dir), &shapes).unwrap();
        let cache = read_cache(&dir.join(CACHE_FILE)).unwrap();
        assert_eq!(cache.len(), 1);
        // An entry written by hand is what every later run uses.
        let pinned = KernelChoice::all(polytask_agents::kernels::Backend::Libtorch);
        let mut edited = toml::Table::new();
        edited.insert(cache_key(&shapes), toml::Value::try_from(pinned).unwrap());
        std::fs::write(dir.join(CACHE_FILE), toml::to_string(&edited).unwrap()).unwrap();
        assert_eq!(calibrated_in(Some(&dir), &shapes).unwrap(), pinned);
        let _ = first;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
