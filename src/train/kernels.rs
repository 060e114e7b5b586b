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
//! timing noise of the day. Delete the file to calibrate again. A cache that cannot be used
//! (a read-only folder) costs a warning and a calibration per run, never the run.

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
        (None, KernelRequest::Auto) => calibrated(&layer_shapes(config)),
    })
}

/// The shapes of `config`'s learner step that a calibration times (see [`shapes`]), on one
/// minibatch of every task.
pub fn layer_shapes(config: &Config) -> LayerShapes {
    let alg = &config.algorithm;
    let rows = config.tasks.iter().map(|t| {
        let rollout = alg.num_steps * t.num_envs;
        (rollout / alg.num_minibatches.max(1)).max(1) as i64
    });
    let towers = if config.network.shared_critic { 1 } else { 2 };
    shapes(towers, rows.collect(), &config.network.hidden)
}

/// What a calibration times for a network of `hidden` widths with `towers` towers and `rows`
/// rows per task: its first shared layer (the stem's width to itself without one).
pub fn shapes(towers: i64, rows: Vec<i64>, hidden: &[i64]) -> LayerShapes {
    LayerShapes {
        towers,
        rows,
        inputs: hidden[0],
        out: *hidden.get(1).unwrap_or(&hidden[0]),
    }
}

/// The cached choice for `shapes` on this machine, calibrating (and caching) it first if
/// there is none. Without a usable cache folder (none, read-only, a damaged lock) the
/// calibration is used and not kept, with a warning: the run goes on either way.
pub fn calibrated(shapes: &LayerShapes) -> KernelChoice {
    calibrated_in(cache_folder().as_deref(), shapes)
}

/// [`calibrated`] with the cache in `folder`.
fn calibrated_in(folder: Option<&Path>, shapes: &LayerShapes) -> KernelChoice {
    let fresh = || calibrate(shapes, CALIBRATION_ROUNDS).choice();
    let Some(folder) = folder else {
        return fresh();
    };
    let warn = |e: anyhow::Error| {
        eprintln!("polytask: the kernel choice is not cached ({e:#}); it is timed again next run")
    };
    let mut cache = match Cache::open(folder) {
        Ok(cache) => cache,
        Err(e) => {
            warn(e);
            return fresh();
        }
    };
    let key = cache_key(shapes);
    if let Some(choice) = cache.get(&key) {
        return choice;
    }
    let choice = fresh();
    if let Err(e) = cache.insert(key, choice) {
        warn(e);
    }
    choice
}

/// The cache file, read and held under its lock.
struct Cache {
    path: PathBuf,
    entries: toml::Table,
    _lock: File,
}

impl Cache {
    /// Takes the lock of the cache in `folder` (created if missing) and reads its entries;
    /// an unreadable file (from another version, or damaged) is started afresh.
    fn open(folder: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let lock = lock(&folder.join("kernels.lock"))?;
        let path = folder.join(CACHE_FILE);
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Self {
            path,
            entries,
            _lock: lock,
        })
    }

    /// The choice cached under `key`.
    fn get(&self, key: &str) -> Option<KernelChoice> {
        self.entries.get(key)?.clone().try_into().ok()
    }

    /// Caches `choice` under `key` and writes the file.
    fn insert(&mut self, key: String, choice: KernelChoice) -> anyhow::Result<()> {
        let entry = toml::Value::try_from(choice).expect("a kernel choice serialises");
        self.entries.insert(key, entry);
        let text = toml::to_string(&self.entries).expect("a table serialises");
        crate::durable::replace_file(&self.path, text.as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
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
        let first = calibrated_in(Some(&dir), &shapes);
        let cache = Cache::open(&dir).unwrap();
        assert_eq!(cache.get(&cache_key(&shapes)), Some(first));
        assert_eq!(cache.entries.len(), 1);
        drop(cache);
        // An entry written by hand is what every later run uses.
        let pinned = KernelChoice::all(polytask_agents::kernels::Backend::Libtorch);
        let mut edited = toml::Table::new();
        edited.insert(cache_key(&shapes), toml::Value::try_from(pinned).unwrap());
        std::fs::write(dir.join(CACHE_FILE), toml::to_string(&edited).unwrap()).unwrap();
        assert_eq!(calibrated_in(Some(&dir), &shapes), pinned);
        // A cache folder that cannot be made (a file stands there) only warns: the run gets
        // a fresh calibration and the file is left alone.
        let blocked = dir.join("blocked");
        std::fs::write(&blocked, "x").unwrap();
        assert!(Cache::open(&blocked).is_err());
        calibrated_in(Some(&blocked), &shapes);
        assert_eq!(std::fs::read_to_string(&blocked).unwrap(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
