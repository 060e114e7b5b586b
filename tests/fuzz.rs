//! Fuzzing of everything a user hands polytask: config files (keys, types, values and TOML
//! syntax mutated from the shipped configs), checkpoints (truncated, garbled, from another
//! config) and command lines. Every case must end in success or in one paragraph with exit
//! code 1 or 2 — never a panic, a hang or a lost run.
//!
//! The case counts are sized for CI; `POLYTASK_FUZZ_CASES=N` multiplies them by `N` for a
//! long fuzz, e.g. `POLYTASK_FUZZ_CASES=100 scripts/test --test fuzz`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use polytask::config::RawConfig;
use polytask::envs::Registry;
use polytask::error::exit_code;
use polytask::logger::MemoryLogger;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

const SHIPPED: [&str; 7] = [
    "cartpole",
    "classic-mt3",
    "cartpole-family",
    "pendulum",
    "aux-cartpole",
    "compare-cartpole-family",
    "compare-classic-mt3",
];

fn cases(base: u32) -> u32 {
    let scale = std::env::var("POLYTASK_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    base * scale
}

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("configs/{name}.toml"));
    std::fs::read_to_string(path).unwrap()
}

/// Keys that configs have (and a few that they do not), as paths into the TOML document;
/// a number indexes an array.
const KEYS: &[&str] = &[
    "seed",
    "total_timesteps",
    "device",
    "threads",
    "algorithm",
    "algorithm.name",
    "algorithm.num_steps",
    "algorithm.num_minibatches",
    "algorithm.update_epochs",
    "algorithm.learning_rate",
    "algorithm.gamma",
    "algorithm.gae_lambda",
    "algorithm.clip_coef",
    "algorithm.max_grad_norm",
    "algorithm.target_kl",
    "algorithm.adam_eps",
    "algorithm.on_nonfinite",
    "network.hidden",
    "network.hidden.0",
    "network.shared_critic",
    "network.init_log_std",
    "surgery.aggregator",
    "surgery.params",
    "surgery.params.alpha",
    "weighting.name",
    "weighting.params.beta",
    "logging",
    "logging.eval_episodes",
    "logging.checkpoint_interval",
    "logging.log_interval",
    "logging.run_dir",
    "tasks",
    "tasks.0",
    "tasks.0.env",
    "tasks.0.name",
    "tasks.0.num_envs",
    "tasks.0.role",
    "tasks.0.params",
    "tasks.0.params.gravity",
    "tasks.0.params.max_episode_steps",
    "tasks.0.threshold",
    "tasks.1.name",
    "tasks.1.num_envs",
    "tasks.2.role",
    "aux_losses",
    "aux_losses.0.kind",
    "aux_losses.0.task",
    "aux_losses.0.coef",
    "compare.methods",
    "compare.methods.0",
    "compare.seeds",
    "compare.baseline",
    "unknown_key",
    "algorithm.unknown",
];

fn any_value() -> impl Strategy<Value = toml::Value> {
    use toml::Value;
    let leaf = prop_oneof![
        2 => any::<i64>().prop_map(Value::Integer),
        3 => prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(65_537),
            Just(1 << 40),
            Just(i64::MAX)
        ]
        .prop_map(Value::Integer),
        1 => any::<f64>().prop_map(Value::Float),
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), Just(1e300)]
            .prop_map(Value::Float),
        1 => "[a-zA-Z0-9:/_. -]{0,12}".prop_map(Value::String),
        1 => prop_oneof![
            Just("CartPole-v1"),
            Just("pcgrad"),
            Just("auxiliary"),
            Just("cuda"),
            Just("uncertainty"),
            Just("single-task"),
            Just("reward-prediction"),
            Just("skip"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
        1 => any::<bool>().prop_map(Value::Boolean),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..3)
                .prop_map(|kv| toml::Value::Table(kv.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, toml::Value),
    Remove(usize),
    /// Replace the bytes `at..at + cut` of the text with `insert`.
    Text {
        at: usize,
        cut: usize,
        insert: String,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (0..KEYS.len(), any_value()).prop_map(|(k, v)| Mutation::Set(k, v)),
        1 => (0..KEYS.len()).prop_map(Mutation::Remove),
        2 => (any::<usize>(), 0usize..8, "[\\[\\]=\"'{},.#\\n a-z0-9]{0,6}")
            .prop_map(|(at, cut, insert)| Mutation::Text { at, cut, insert }),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Text { at, cut, insert } => {
            let bytes = text.as_bytes();
            let at = at % (bytes.len() + 1);
            let end = (at + cut).min(bytes.len());
            let mut out = bytes[..at].to_vec();
            out.extend_from_slice(insert.as_bytes());
            out.extend_from_slice(&bytes[end..]);
            String::from_utf8_lossy(&out).into_owned()
        }
        Mutation::Set(k, value) => edited(text, KEYS[*k], Some(value.clone())),
        Mutation::Remove(k) => edited(text, KEYS[*k], None),
    }
}

/// `text` (a TOML document) with the dotted `key` set to `value`, or removed for `None`.
fn edited(text: &str, key: &str, value: Option<toml::Value>) -> String {
    let mut table: toml::Table = toml::from_str(text).unwrap_or_default();
    let path: Vec<&str> = key.split('.').collect();
    edit_table(&mut table, &path, value);
    toml::to_string(&table).unwrap_or_default()
}

fn edit_table(table: &mut toml::Table, path: &[&str], value: Option<toml::Value>) {
    let (first, rest) = (path[0].to_string(), &path[1..]);
    match (rest.is_empty(), value) {
        (true, Some(v)) => {
            table.insert(first, v);
        }
        (true, None) => {
            table.remove(&first);
        }
        (false, value) => {
            let child = table
                .entry(first)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            edit_value(child, rest, value);
        }
    }
}

/// Edits inside `node`: a table by key, an array by index; a scalar in the way is left alone.
fn edit_value(node: &mut toml::Value, path: &[&str], value: Option<toml::Value>) {
    match node {
        toml::Value::Table(t) => edit_table(t, path, value),
        toml::Value::Array(a) => {
            let Ok(i) = path[0].parse::<usize>() else {
                return;
            };
            if i >= a.len() {
                return;
            }
            match (path.len(), value) {
                (1, Some(v)) => a[i] = v,
                (1, None) => {
                    a.remove(i);
                }
                (_, value) => edit_value(&mut a[i], &path[1..], value),
            }
        }
        _ => {}
    }
}

/// An error a user sees: one paragraph, exit code 1 or 2.
fn check_error(err: &anyhow::Error) -> Result<(), TestCaseError> {
    let text = format!("{err:#}");
    prop_assert!(!text.trim().is_empty(), "an empty message");
    prop_assert!(!text.contains('\n'), "not one paragraph: {text}");
    let code = exit_code(err);
    prop_assert!(code == 1 || code == 2, "exit {code}: {text}");
    Ok(())
}

#[test]
fn mutated_configs_load_or_are_refused_in_one_paragraph() {
    let dir = common::temp_dir("fuzz-config");
    let registry = Registry::builtin();
    let texts: Vec<String> = SHIPPED.iter().map(|n| shipped(n)).collect();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases(2000)));
    let strategy = (0..texts.len(), prop::collection::vec(mutation(), 1..4));
    runner
        .run(&strategy, |(which, mutations)| {
            let mut text = texts[which].clone();
            for m in &mutations {
                text = apply(&text, m);
            }
            let path = dir.join("c.toml");
            std::fs::write(&path, &text).unwrap();
            let start = Instant::now();
            let result = RawConfig::load(&path).and_then(|raw| raw.validate(&registry));
            prop_assert!(start.elapsed() < Duration::from_secs(5), "slow: {text}");
            if let Err(err) = result {
                check_error(&err)?;
            }
            Ok(())
        })
        .unwrap();
}

/// A finished tiny run to damage copies of.
fn pristine() -> &'static (PathBuf, String) {
    static RUN: OnceLock<(PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = common::temp_dir("fuzz-checkpoint");
        let text = "total_timesteps = 64\n[algorithm]\nnum_steps = 8\nupdate_epochs = 1\n\
                    [surgery]\naggregator = \"gradvac\"\n[logging]\neval_episodes = 0\n\
                    quiet = true\n[[tasks]]\nenv = \"CartPole-v1\"\nnum_envs = 4\n\
                    normalize_obs = true\n[[tasks]]\nenv = \"Acrobot-v1\"\nnum_envs = 2\n";
        let config = toml::from_str::<RawConfig>(text)
            .unwrap()
            .validate(&Registry::builtin())
            .unwrap();
        let run = dir.join("run");
        polytask::train::train(
            &config,
            &Registry::builtin(),
            &run,
            &mut MemoryLogger::new(),
        )
        .unwrap();
        (run, text.to_string())
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Remove,
}

#[test]
fn damaged_checkpoints_resume_or_are_refused_and_are_never_lost() {
    let (run, text) = pristine();
    let registry = Registry::builtin();
    let config = toml::from_str::<RawConfig>(text)
        .unwrap()
        .validate(&registry)
        .unwrap();
    let files = [
        "state.json",
        "resume.bin",
        "model.safetensors",
        "optimizer.safetensors",
    ];
    let damage = prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Damage::Flip(at, x)),
        Just(Damage::Remove),
    ];
    let scratch = common::temp_dir("fuzz-checkpoint-cases");
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases(150)));
    runner
        .run(&(0..files.len(), damage), |(file, damage)| {
            let case = scratch.join("run");
            let _ = std::fs::remove_dir_all(&case);
            copy_dir(run, &case);
            let path = case.join("checkpoint").join(files[file]);
            let mut bytes = std::fs::read(&path).unwrap();
            match damage {
                Damage::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
                Damage::Flip(at, x) => {
                    let at = at % bytes.len();
                    bytes[at] ^= x;
                }
                Damage::Remove => {}
            }
            match damage {
                Damage::Remove => std::fs::remove_file(&path).unwrap(),
                _ => std::fs::write(&path, &bytes).unwrap(),
            }
            let mut logger = MemoryLogger::new();
            let result = polytask::train::resume(&config, &registry, &case, &mut logger);
            if let Err(err) = result {
                check_error(&err)?;
                // A refused checkpoint is left exactly as it was.
                let now = std::fs::read(&path).ok();
                match damage {
                    Damage::Remove => prop_assert!(now.is_none()),
                    _ => prop_assert_eq!(now, Some(bytes)),
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_checkpoint_of_another_config_is_refused() {
    let (run, text) = pristine();
    let other = text.replace("num_envs = 2", "num_envs = 3");
    let config = toml::from_str::<RawConfig>(&other)
        .unwrap()
        .validate(&Registry::builtin())
        .unwrap();
    let case = common::temp_dir("fuzz-other-config").join("run");
    copy_dir(run, &case);
    let err = polytask::train::resume(
        &config,
        &Registry::builtin(),
        &case,
        &mut MemoryLogger::new(),
    )
    .unwrap_err();
    assert_eq!(exit_code(&err), 2, "{err:#}");
    assert!(format!("{err:#}").contains("another config"), "{err:#}");
}

/// Command-line words: subcommands, flags, values good and bad.
const WORDS: &[&str] = &[
    "train",
    "eval",
    "rollout",
    "envs",
    "--set",
    "--seed",
    "--device",
    "--run-name",
    "--resume",
    "--quiet",
    "--env",
    "--steps",
    "--episodes",
    "--deterministic",
    "c.toml",
    "missing.toml",
    "run",
    "runs/r",
    "runs/r/checkpoint",
    "CartPole-v1",
    "Nope-v0",
    "cpu",
    "cuda",
    "gpu",
    "0",
    "-1",
    "3",
    "1e9",
    "algorithm.learning_rate=0.1",
    "tasks=1",
    "algorithm.num_steps=0",
    "=",
    "--",
    "-x",
    "--help-me",
    "logging.eval_episodes=0",
];

#[test]
fn random_command_lines_end_cleanly() {
    let dir = common::temp_dir("fuzz-cli");
    let config = "total_timesteps = 64\n[algorithm]\nnum_steps = 8\nupdate_epochs = 1\n\
                  [logging]\neval_episodes = 1\nquiet = true\n[[tasks]]\n\
                  env = \"CartPole-v1\"\nnum_envs = 2\n";
    std::fs::write(dir.join("c.toml"), config).unwrap();
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases(40)));
    let words = prop::collection::vec(0..WORDS.len(), 0..7);
    runner
        .run(&words, |picked| {
            let args: Vec<&str> = picked.iter().map(|&k| WORDS[k]).collect();
            let out = Command::new(env!("CARGO_BIN_EXE_polytask"))
                .args(&args)
                .current_dir(&dir)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            prop_assert!(
                matches!(code, Some(0..=2)),
                "{args:?}: exit {code:?}: {stderr}"
            );
            prop_assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            if code != Some(0) {
                let lines: Vec<&str> = stderr
                    .lines()
                    .filter(|l| !l.starts_with("warning"))
                    .collect();
                prop_assert_eq!(lines.len(), 1, "{:?}: not one paragraph: {}", args, stderr);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_checkpoint_of_another_format_version_is_refused_naming_both_versions() {
    let (run, text) = pristine();
    let config = toml::from_str::<RawConfig>(text)
        .unwrap()
        .validate(&Registry::builtin())
        .unwrap();
    let case = common::temp_dir("fuzz-old-version").join("run");
    copy_dir(run, &case);
    let state = case.join("checkpoint/state.json");
    let json = std::fs::read_to_string(&state).unwrap();
    let current = format!("\"version\": {}", polytask::train::CHECKPOINT_VERSION);
    assert!(json.contains(&current), "{json}");
    std::fs::write(&state, json.replace(&current, "\"version\": 1")).unwrap();
    let err = polytask::train::resume(
        &config,
        &Registry::builtin(),
        &case,
        &mut MemoryLogger::new(),
    )
    .unwrap_err();
    let said = format!("{err:#}");
    assert_eq!(exit_code(&err), 2, "{said}");
    assert!(
        said.contains("format version 1") && said.contains("reads version"),
        "{said}"
    );
}
