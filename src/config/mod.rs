//! Run configuration, in two stages: [`RawConfig`] is what a TOML file says (unknown keys are
//! errors), [`Config`] is the checked result with every environment id and parameter known
//! to exist and every number in range.

mod aux_loss;
pub mod benchmark;
mod compare;
mod kernels;
pub mod sac;
mod sections;

use std::collections::BTreeMap;
use std::path::Path;

use polytask_agents::device::DeviceRequest;
use polytask_envs::{ParamValue, Params, Registry};
use serde::{Deserialize, Serialize};

pub use aux_loss::{AuxLoss, AuxLossKind, ImageMaps, RawAuxLoss};
pub use compare::{CompareSection, SINGLE_TASK};
pub use kernels::{KernelRequest, RawKernels};
pub use polytask_agents::weighting::Role;
pub use sac::SacSection;
pub use sections::{
    AlgorithmConfig, AlgorithmName, ConvSchemeName, ConvSection, LoggingConfig, NetworkConfig,
    OnNonFinite, SurgeryConfig, WeightingConfig,
};

use crate::error::usage;

/// A run configuration as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Seed of every random choice of the run (environments, network, sampling).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Environment steps to take per task (summed over that task's environments).
    pub total_timesteps: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available).
    #[serde(default = "default_device")]
    pub device: String,
    /// Threads stepping environments, 0 for automatic: one thread when a whole vector step is
    /// cheap (under 50 µs, e.g. classic control), else one per core.
    #[serde(default)]
    pub threads: usize,
    /// Worker processes that step the `gym:` (Python) tasks' environments, each with its own
    /// interpreter: absent for automatic (one per core when the run has `gym:` tasks, at most
    /// one per `gym:` environment), 0 to step them in the training process (one at a time,
    /// under its one GIL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_workers: Option<usize>,
    /// Seconds a worker process may take to answer a step (or a checkpoint) before it is
    /// killed and the run stops with an error; making the environments is not bounded.
    #[serde(default = "default_python_step_timeout")]
    pub python_step_timeout: f64,
    /// libtorch's intra-op threads while an iteration runs, 0 for automatic: every core for a
    /// network with convolutional stems, else one (see `train::learner_threads`).
    #[serde(default)]
    pub learner_threads: usize,
    /// Which implementation runs each of the learner's CPU kernels (see [`RawKernels`]).
    #[serde(default)]
    pub kernels: RawKernels,
    /// The update rule.
    #[serde(default)]
    pub algorithm: AlgorithmConfig,
    /// SAC's hyperparameters (only with `algorithm.name = "sac"`; defaults filled in then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sac: Option<SacSection>,
    /// Network sizes.
    #[serde(default)]
    pub network: NetworkConfig,
    /// Gradient surgery.
    #[serde(default)]
    pub surgery: SurgeryConfig,
    /// Adaptive task weights, applied before surgery.
    #[serde(default)]
    pub weighting: WeightingConfig,
    /// Logging, checkpoints, evaluation.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// A benchmark's task set, expanded into tasks before these (see [`benchmark`]):
    /// `"metaworld-mt10"`, `"metaworld-mt50"` or `"metaworld-mt1:<env name>"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
    /// Environments per task of the `benchmark` (default 1, as Meta-World's baselines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark_num_envs: Option<usize>,
    /// The tasks, at least one (counting a benchmark's).
    #[serde(default)]
    pub tasks: Vec<RawTask>,
    /// Auxiliary losses on the tasks' own rollouts (extra heads on the shared trunk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aux_losses: Vec<RawAuxLoss>,
    /// What `polytask compare` runs on these tasks (ignored by `polytask train`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareSection>,
}

fn default_python_step_timeout() -> f64 {
    60.0
}

/// The most worker processes a config may ask for (`python_workers`): far more than one
/// machine runs usefully, low enough that a typo is an error rather than thousands of
/// interpreters.
pub const MAX_PYTHON_WORKERS: usize = 1024;

/// The longest `python_step_timeout` accepted, in seconds (one day).
pub const MAX_PYTHON_STEP_TIMEOUT: f64 = 86_400.0;

fn default_device() -> String {
    "auto".to_string()
}

fn default_seed() -> u64 {
    1
}

/// One task as written in TOML: an environment id with parameters and a number of copies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// The task's name in logs and reports; defaults to the environment id.
    pub name: Option<String>,
    /// Registered environment id, e.g. `CartPole-v1` (see `polytask envs`).
    pub env: String,
    /// Environment parameters, e.g. `{ gravity = 12.0 }`; numbers for built-in environments,
    /// also booleans and strings for `gym:` ids (`{ env_name = "reach-v3" }`).
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Number of environment copies stepped in parallel for this task.
    #[serde(default = "default_num_envs")]
    pub num_envs: usize,
    /// `main` (the default: its return is the objective) or `auxiliary` (trained only to
    /// help the main tasks; its return is logged but is not the objective).
    #[serde(default = "default_role")]
    pub role: String,
    /// Standardise observations with running statistics (as SB3's `VecNormalize`).
    #[serde(default)]
    pub normalize_obs: bool,
    /// Scale rewards by the running std of the discounted return (as SB3's `VecNormalize`).
    #[serde(default)]
    pub normalize_reward: bool,
    /// The return at which the task counts as solved (reports' steps-to-threshold); by
    /// default the environment id's reward threshold, unless `reward_scale` is changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// The longest rollout (`algorithm.num_steps`) accepted; with [`MAX_NUM_ENVS`] it bounds a
/// task's rollout at 2³² transitions, so sizes never overflow.
pub const MAX_NUM_STEPS: usize = 65_536;

/// The most environment instances one task may have: far above what one machine steps
/// usefully, and low enough that a typo (an extra zero or five) is an error at once rather
/// than a long hang while millions of environments are made.
pub const MAX_NUM_ENVS: usize = 65_536;

fn default_num_envs() -> usize {
    8
}

fn default_role() -> String {
    "main".to_string()
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// As [`RawConfig::seed`].
    pub seed: u64,
    /// As [`RawConfig::total_timesteps`].
    pub total_timesteps: u64,
    /// The parsed [`RawConfig::device`].
    pub device: DeviceRequest,
    /// Environment threads (0: automatic, see [`RawConfig::threads`]).
    pub threads: usize,
    /// As [`RawConfig::python_workers`] (`None`: automatic).
    pub python_workers: Option<usize>,
    /// As [`RawConfig::python_step_timeout`], checked.
    pub python_step_timeout: std::time::Duration,
    /// libtorch threads while learning (0: automatic, see [`RawConfig::learner_threads`]).
    pub learner_threads: usize,
    /// The checked [`RawConfig::kernels`].
    pub kernels: KernelRequest,
    /// As [`RawConfig::algorithm`], checked.
    pub algorithm: AlgorithmConfig,
    /// SAC's hyperparameters, checked: `Some` exactly when `algorithm.name = "sac"`.
    pub sac: Option<SacSection>,
    /// As [`RawConfig::network`], checked.
    pub network: NetworkConfig,
    /// As [`RawConfig::surgery`], the aggregator known to exist.
    pub surgery: SurgeryConfig,
    /// As [`RawConfig::weighting`], the method known to exist and to suit the tasks' roles
    /// and the aggregator.
    pub weighting: WeightingConfig,
    /// As [`RawConfig::logging`].
    pub logging: LoggingConfig,
    /// The tasks, with unique names.
    pub tasks: Vec<Task>,
    /// The auxiliary losses, with names unique among tasks and auxiliary losses.
    pub aux_losses: Vec<AuxLoss>,
    /// As [`RawConfig::compare`].
    pub compare: Option<CompareSection>,
    /// The configuration as resolved (defaults filled in), as TOML, to store with the run.
    pub resolved_toml: String,
}

impl Config {
    /// The `[sac]` section: the config's, or Stable-Baselines3's defaults for a config of
    /// another algorithm.
    pub fn sac_section(&self) -> SacSection {
        self.sac.clone().unwrap_or_default()
    }
}

/// A checked task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Unique name.
    pub name: String,
    /// Environment id, known to the registry.
    pub env: String,
    /// Parameters, accepted by the environment.
    pub params: Params,
    /// Number of environment copies, at least 1.
    pub num_envs: usize,
    /// As [`RawTask::role`].
    pub role: Role,
    /// As [`RawTask::normalize_obs`].
    pub normalize_obs: bool,
    /// As [`RawTask::normalize_reward`].
    pub normalize_reward: bool,
    /// As [`RawTask::threshold`], resolved (`None`: the task has no threshold).
    pub threshold: Option<f64>,
    /// The shape of its observations (`[H, W, C]` for an image, `[n]` for a vector).
    pub obs_shape: Vec<usize>,
}

impl RawConfig {
    /// Reads and parses a TOML file; errors name the file, and the key for unknown keys.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Self::load_with(path, &[])
    }

    /// Reads a TOML file and applies `overrides` (`dotted.key=value`, the value in TOML syntax;
    /// a bare word is taken as a string) before parsing.
    pub fn load_with(path: &Path, overrides: &[String]) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        let fail = |e: &dyn std::fmt::Display| {
            let message = e.to_string().replace('\n', " ");
            usage(format!(
                "config file {}: {}",
                path.display(),
                message.trim()
            ))
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| fail(&e))?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let mut raw = Self::deserialize(table).map_err(|e| fail(&e))?;
        raw.expand_benchmark()?;
        Ok(raw)
    }

    /// Replaces `benchmark` by its tasks, placed before the declared ones, so that the
    /// resolved config lists every task with its goal seed.
    pub fn expand_benchmark(&mut self) -> anyhow::Result<()> {
        let num_envs = self.benchmark_num_envs.take();
        let Some(name) = self.benchmark.take() else {
            return match num_envs {
                Some(_) => Err(usage(
                    "config: `benchmark_num_envs` is set but `benchmark` is not;                      set `benchmark` or give `num_envs` in each [[tasks]] table",
                )),
                None => Ok(()),
            };
        };
        let mut tasks = benchmark::expand(&name, self.seed, num_envs.unwrap_or(1))?;
        tasks.append(&mut self.tasks);
        self.tasks = tasks;
        Ok(())
    }

    /// Checks the configuration against `registry`; errors name the offending key.
    pub fn validate(mut self, registry: &Registry) -> anyhow::Result<Config> {
        self.expand_benchmark()?;
        let sac = self.algorithm.name == AlgorithmName::Sac;
        if !sac && self.sac.is_some() {
            return Err(usage(
                "config: the [sac] section applies only with `algorithm.name = \"sac\"`; \
                 remove it or set the algorithm",
            ));
        }
        if sac {
            self.sac.get_or_insert_with(SacSection::default);
        }
        sac::fill_defaults(sac, &mut self.network, &mut self.logging);
        if self.tasks.is_empty() {
            return Err(usage(
                "config: `tasks` is empty; declare at least one [[tasks]] table or a `benchmark`",
            ));
        }
        if self.total_timesteps == 0 {
            return Err(usage("config: `total_timesteps` must be greater than 0"));
        }
        let resolved_toml = toml::to_string(&self).unwrap_or_default();
        let mut tasks: Vec<Task> = Vec::with_capacity(self.tasks.len());
        let mut sizes = Vec::with_capacity(self.tasks.len());
        for (i, raw) in self.tasks.into_iter().enumerate() {
            let (task, size) = raw.validate(i, registry)?;
            sizes.push(size);
            if tasks.iter().any(|t| t.name == task.name) {
                return Err(usage(format!(
                    "config: tasks[{i}].name `{}` is used by an earlier task; give each task a unique `name`",
                    task.name
                )));
            }
            tasks.push(task);
        }
        let device = self
            .device
            .parse()
            .map_err(|e| usage(format!("config: `device`: {e}")))?;
        let kernels = self.kernels.validate()?;
        let python_step_timeout =
            check_python_workers(self.python_workers, self.python_step_timeout)?;
        match &self.sac {
            Some(section) => {
                let aux = self.aux_losses.len();
                sac::check(section, &self.algorithm, &self.network, &tasks, aux)?;
                check_replay_memory(section, &sizes)?;
            }
            None => {
                check_algorithm(&self.algorithm, &tasks)?;
                check_rollout_memory(&self.algorithm, &tasks, &sizes)?;
            }
        }
        check_network(&self.network, &tasks)?;
        polytask_agents::surgery::by_name_with(&self.surgery.aggregator, &self.surgery.params)
            .map_err(|e| match e.parameter() {
                Some(p) => usage(format!("config: `surgery.params.{p}`: {e}")),
                None => usage(format!("config: `surgery.aggregator`: {e}")),
            })?;
        let aux_losses = check_aux_losses(self.aux_losses, &tasks)?;
        let roles = roles(&tasks, &aux_losses);
        check_weighting(&self.weighting, &self.surgery.aggregator, &roles)?;
        Ok(Config {
            seed: self.seed,
            total_timesteps: self.total_timesteps,
            device,
            threads: self.threads,
            python_workers: self.python_workers,
            python_step_timeout,
            learner_threads: self.learner_threads,
            kernels,
            algorithm: self.algorithm,
            sac: self.sac,
            network: self.network,
            surgery: self.surgery,
            weighting: self.weighting,
            logging: self.logging,
            tasks,
            aux_losses,
            compare: self.compare,
            resolved_toml,
        })
    }
}

impl RawTask {
    /// The checked task, and the flat sizes of its observations and actions.
    fn validate(self, index: usize, registry: &Registry) -> anyhow::Result<(Task, [usize; 2])> {
        let params: Params = self.params.into_iter().collect();
        let env = registry
            .make(&self.env, &params)
            .map_err(|e| usage(format!("config: tasks[{index}] (env `{}`): {e}", self.env)))?;
        let size = [
            env.observation_space().flat_dim(),
            env.action_space().flat_dim(),
        ];
        let obs_shape = match env.observation_space() {
            polytask_envs::Space::Box(b) => b.shape.clone(),
            polytask_envs::Space::Discrete(_) => vec![1],
        };
        let rescaled = params.number("reward_scale").is_some_and(|v| v != 1.0);
        let threshold = self.threshold.or_else(|| {
            let spec = registry.spec(&self.env).ok()?;
            spec.reward_threshold.filter(|_| !rescaled)
        });
        if self.num_envs == 0 || self.num_envs > MAX_NUM_ENVS {
            return Err(usage(format!(
                "config: `tasks[{index}].num_envs` = {} must be between 1 and {MAX_NUM_ENVS}",
                self.num_envs
            )));
        }
        let role = self
            .role
            .parse()
            .map_err(|e| usage(format!("config: `tasks[{index}].role`: {e}")))?;
        let task = Task {
            name: self.name.unwrap_or_else(|| self.env.clone()),
            env: self.env,
            params,
            num_envs: self.num_envs,
            role,
            normalize_obs: self.normalize_obs,
            normalize_reward: self.normalize_reward,
            threshold,
            obs_shape,
        };
        Ok((task, size))
    }
}

/// Parses `NAME=VALUE` pairs given with `--param` into environment parameters: a value
/// that reads as a number is one, `true` and `false` are booleans, anything else is a string
/// (`--param env_name=reach-v3`).
pub fn parse_params(pairs: &[String]) -> anyhow::Result<polytask_envs::Params> {
    let mut params = polytask_envs::Params::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| usage(format!("--param `{pair}` is not of the form NAME=VALUE")))?;
        let value = value.trim();
        let value = match (value.parse::<f64>(), value.parse::<bool>()) {
            (Ok(number), _) => ParamValue::Number(number),
            (_, Ok(flag)) => ParamValue::Bool(flag),
            _ => ParamValue::Text(value.to_string()),
        };
        params.set(name.trim(), value);
    }
    Ok(params)
}

/// Sets `key=value` in `table`, creating intermediate tables; errors name the override.
pub fn apply_override(table: &mut toml::Table, item: &str) -> anyhow::Result<()> {
    let (key, value) = item
        .split_once('=')
        .ok_or_else(|| usage(format!("--set `{item}` is not of the form KEY=VALUE")))?;
    let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    set_key(table, key, value).map_err(|e| usage(format!("--set `{item}`: {e}")))
}

/// Sets the dotted `key` (e.g. `surgery.aggregator`) of `table` to `value`, creating
/// intermediate tables; the error says what is wrong with the key.
pub fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.trim().split('.').collect();
    let last = parts
        .pop()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("the key `{key}` is empty"))?;
    let mut node = table;
    for part in parts {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a table"))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

/// Checks `python_workers` and `python_step_timeout`; the timeout as a duration.
fn check_python_workers(
    workers: Option<usize>,
    timeout: f64,
) -> anyhow::Result<std::time::Duration> {
    if workers.is_some_and(|n| n > MAX_PYTHON_WORKERS) {
        return Err(usage(format!(
            "config: `python_workers` = {} must be at most {MAX_PYTHON_WORKERS} (leave it out \
             for one per core, 0 to step Python environments in the training process)",
            workers.unwrap_or_default()
        )));
    }
    if !(timeout > 0.0 && timeout <= MAX_PYTHON_STEP_TIMEOUT) {
        return Err(usage(format!(
            "config: `python_step_timeout` = {timeout} must be a number of seconds above 0 and \
             at most {MAX_PYTHON_STEP_TIMEOUT}"
        )));
    }
    Ok(std::time::Duration::from_secs_f64(timeout))
}

fn check_algorithm(a: &AlgorithmConfig, tasks: &[Task]) -> anyhow::Result<()> {
    let require = |ok: bool, key: &str, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(usage(format!("config: `algorithm.{key}` {what}")))
        }
    };
    require(
        a.num_steps > 0 && a.num_steps <= MAX_NUM_STEPS,
        "num_steps",
        &format!("must be between 1 and {MAX_NUM_STEPS}"),
    )?;
    require(
        a.num_minibatches > 0,
        "num_minibatches",
        "must be at least 1",
    )?;
    require(a.update_epochs > 0, "update_epochs", "must be at least 1")?;
    let lr_ok = a.learning_rate > 0.0 && a.learning_rate.is_finite();
    require(lr_ok, "learning_rate", "must be a positive number")?;
    require(
        a.gamma > 0.0 && a.gamma <= 1.0,
        "gamma",
        "must be in (0, 1]",
    )?;
    require(
        (0.0..=1.0).contains(&a.gae_lambda),
        "gae_lambda",
        "must be in [0, 1]",
    )?;
    require(a.clip_coef > 0.0, "clip_coef", "must be positive")?;
    require(a.max_grad_norm > 0.0, "max_grad_norm", "must be positive")?;
    require(a.adam_eps > 0.0, "adam_eps", "must be positive")?;
    for t in tasks {
        let batch = t.num_envs * a.num_steps;
        if !batch.is_multiple_of(a.num_minibatches) {
            return Err(usage(format!(
                "config: `algorithm.num_minibatches` = {} does not divide task `{}`'s batch of \
                 {batch} (num_envs {} × num_steps {})",
                a.num_minibatches, t.name, t.num_envs, a.num_steps
            )));
        }
    }
    Ok(())
}

/// Refuses a config whose rollout storage (observations twice, actions and six numbers per
/// transition, as `f32`) would not fit in this machine's memory: an allocation that size
/// would end the process without a word.
fn check_rollout_memory(
    a: &AlgorithmConfig,
    tasks: &[Task],
    sizes: &[[usize; 2]],
) -> anyhow::Result<()> {
    let bytes: f64 = tasks
        .iter()
        .zip(sizes)
        .map(|(t, [obs, act])| (t.num_envs * a.num_steps) as f64 * (2 * obs + act + 6) as f64 * 4.0)
        .sum();
    fits_in_memory(
        bytes,
        "the rollouts of `tasks[*].num_envs` × `algorithm.num_steps`",
        "use fewer environments or steps",
    )
}

/// Refuses a SAC config whose replay buffers (observations twice, the action, reward and
/// termination flag per transition, as `f32`) would not fit in this machine's memory.
fn check_replay_memory(sac: &SacSection, sizes: &[[usize; 2]]) -> anyhow::Result<()> {
    let per_task = |[obs, act]: &[usize; 2]| (2 * obs + act + 2) as f64 * 4.0;
    let bytes: f64 = sizes.iter().map(per_task).sum::<f64>() * sac.buffer_size as f64;
    fits_in_memory(
        bytes,
        "the replay buffers of `sac.buffer_size` transitions per task",
        "lower `sac.buffer_size`",
    )
}

/// An error naming `what` and the remedy when `bytes` exceed the machine's memory.
fn fits_in_memory(bytes: f64, what: &str, remedy: &str) -> anyhow::Result<()> {
    let memory = physical_memory();
    if bytes > memory {
        let gib = |b: f64| b / (1u64 << 30) as f64;
        return Err(usage(format!(
            "config: {what} would need {:.1} GiB, more than this machine's {:.1} GiB; {remedy}",
            gib(bytes),
            gib(memory)
        )));
    }
    Ok(())
}

/// The machine's physical memory in bytes (infinite where it cannot be read).
fn physical_memory() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as f64 * size as f64
    } else {
        f64::INFINITY
    }
}

/// The role of every row of the per-task gradients: the tasks', then the auxiliary losses'.
pub fn roles(tasks: &[Task], aux_losses: &[AuxLoss]) -> Vec<Role> {
    let aux = aux_losses.iter().map(|_| Role::Auxiliary);
    tasks.iter().map(|t| t.role).chain(aux).collect()
}

fn check_aux_losses(raw: Vec<RawAuxLoss>, tasks: &[Task]) -> anyhow::Result<Vec<AuxLoss>> {
    let mut checked: Vec<AuxLoss> = Vec::with_capacity(raw.len());
    for (i, a) in raw.into_iter().enumerate() {
        let task = tasks.iter().position(|t| t.name == a.task).ok_or_else(|| {
            let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
            usage(format!(
                "config: `aux_losses[{i}].task` `{}` is not a task name; the tasks are: {}",
                a.task,
                names.join(", ")
            ))
        })?;
        if !(a.coef.is_finite() && a.coef > 0.0) {
            return Err(usage(format!(
                "config: `aux_losses[{i}].coef` must be a positive number"
            )));
        }
        let name = (a.name.clone()).unwrap_or_else(|| format!("{}-{}", a.task, a.kind.as_str()));
        let taken = tasks.iter().any(|t| t.name == name) || checked.iter().any(|c| c.name == name);
        if taken {
            return Err(usage(format!(
                "config: aux_losses[{i}] is named `{name}` like an earlier task or auxiliary \
                 loss; give it a unique `name`"
            )));
        }
        let maps = aux_loss::check_maps(i, &a, &tasks[task])?;
        checked.push(AuxLoss {
            name,
            kind: a.kind,
            task,
            coef: a.coef,
            maps,
        });
    }
    Ok(checked)
}

fn check_weighting(w: &WeightingConfig, aggregator: &str, roles: &[Role]) -> anyhow::Result<()> {
    use polytask_agents::weighting::{self, WeightingError};
    let key = |e: &WeightingError| match e {
        WeightingError::UnknownParameter { parameter, .. }
        | WeightingError::InvalidParameter { parameter, .. } => {
            format!("weighting.params.{parameter}")
        }
        WeightingError::UnknownAggregator { .. } => "surgery.aggregator".to_string(),
        _ => "weighting.name".to_string(),
    };
    weighting::by_name(&w.name, &w.params, roles)
        .and_then(|_| weighting::compatible(&w.name, aggregator))
        .map_err(|e| usage(format!("config: `{}`: {e}", key(&e))))?;
    Ok(())
}

/// The widest hidden layer accepted: far beyond what these networks use, and small enough
/// that a typo is an error rather than an allocation of terabytes.
pub const MAX_HIDDEN: i64 = 65_536;

fn check_network(n: &NetworkConfig, tasks: &[Task]) -> anyhow::Result<()> {
    if n.hidden.is_empty() || n.hidden.iter().any(|&h| h <= 0 || h > MAX_HIDDEN) {
        return Err(usage(format!(
            "config: `network.hidden` must list at least one layer width, each from 1 to \
             {MAX_HIDDEN}"
        )));
    }
    check_conv(&n.conv, tasks)
}

/// The largest convolution option accepted (filters, kernel side, stride, adapter channels).
const MAX_CONV: i64 = 4096;

fn check_conv(c: &ConvSection, tasks: &[Task]) -> anyhow::Result<()> {
    let options = [
        ("filters", c.filters),
        ("kernel_size", c.kernel_size),
        ("stride", c.stride),
        ("adapter_channels", c.adapter_channels),
    ];
    for (key, value) in options {
        if !(1..=MAX_CONV).contains(&value) {
            return Err(usage(format!(
                "config: `network.conv.{key}` = {value} must be from 1 to {MAX_CONV}"
            )));
        }
    }
    let Some(conv) = c.to_conv() else {
        return Ok(());
    };
    let mut first: Option<(&str, i64)> = None;
    for task in tasks {
        let Some(grid) = image_grid(task) else {
            continue;
        };
        let grid = match conv.scheme {
            polytask_agents::conv::ConvScheme::PerTask => grid,
            polytask_agents::conv::ConvScheme::Adapter { channels } => {
                polytask_agents::conv::Grid { channels, ..grid }
            }
        };
        let Some(features) = conv.features(grid) else {
            return Err(usage(format!(
                "config: `network.conv.kernel_size` = {} does not fit task `{}`'s {}×{} grid",
                c.kernel_size, task.name, grid.height, grid.width
            )));
        };
        match first {
            Some((name, f)) if f != features => {
                return Err(usage(format!(
                    "config: `network.conv`: image tasks `{name}` and `{}` give convolution \
                     features of different widths ({f} and {features}); the shared trunk needs \
                     one width, so give image tasks grids of one size or set \
                     `network.conv.scheme = \"none\"`",
                    task.name
                )))
            }
            Some(_) => {}
            None => first = Some((&task.name, features)),
        }
    }
    Ok(())
}

/// The grid of a task whose observations are images (`[H, W, C]`).
pub fn image_grid(task: &Task) -> Option<polytask_agents::conv::Grid> {
    match task.obs_shape.as_slice() {
        &[height, width, channels] => Some(polytask_agents::conv::Grid {
            height: height as i64,
            width: width as i64,
            channels: channels as i64,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> anyhow::Result<Config> {
        let raw: RawConfig = toml::from_str(text)?;
        raw.validate(&Registry::builtin())
    }

    #[test]
    fn defaults_fill_a_minimal_config() {
        let c = check("total_timesteps = 1000\n[[tasks]]\nenv = \"CartPole-v1\"").unwrap();
        assert_eq!((c.seed, c.tasks.len()), (1, 1));
        assert_eq!(
            (c.tasks[0].name.as_str(), c.tasks[0].num_envs),
            ("CartPole-v1", 8)
        );
    }

    #[test]
    fn overrides_reach_nested_keys_and_are_checked() {
        let dir = std::env::temp_dir().join(format!("polytask-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "total_timesteps = 1000\n[[tasks]]\nenv = \"CartPole-v1\"",
        )
        .unwrap();
        let sets = [
            "algorithm.learning_rate=3e-4".to_string(),
            "surgery.aggregator=pcgrad".to_string(),
        ];
        let c = RawConfig::load_with(&path, &sets)
            .unwrap()
            .validate(&Registry::builtin())
            .unwrap();
        assert_eq!(c.algorithm.learning_rate, 3e-4);
        assert_eq!(c.surgery.aggregator, "pcgrad");
        let bad =
            RawConfig::load_with(&path, &["algorithm.learnig_rate=1".to_string()]).unwrap_err();
        assert!(bad.to_string().contains("learnig_rate"), "{bad}");
        let agg = RawConfig::load_with(&path, &["surgery.aggregator=pcgard".to_string()]).unwrap();
        assert!(agg
            .validate(&Registry::builtin())
            .unwrap_err()
            .to_string()
            .contains("pcgard"));
        let param = RawConfig::load_with(
            &path,
            &[
                "surgery.aggregator=mgda".to_string(),
                "surgery.params.max_iter=3".to_string(),
            ],
        )
        .unwrap();
        let msg = param
            .validate(&Registry::builtin())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`surgery.params.max_iter`"), "{msg}");
        let mb = RawConfig::load_with(&path, &["algorithm.num_minibatches=3".to_string()]).unwrap();
        assert!(mb
            .validate(&Registry::builtin())
            .unwrap_err()
            .to_string()
            .contains("num_minibatches"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = "total_timesteps = 1\nlearning_rat = 1\n[[tasks]]\nenv = \"CartPole-v1\"";
        let err = toml::from_str::<RawConfig>(unknown)
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rat"), "{err}");
        let err = check("total_timesteps = 1\n[[tasks]]\nenv = \"Nope-v0\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tasks[0]") && err.contains("Nope-v0"), "{err}");
        let bad = "total_timesteps = 1\n[[tasks]]\nenv = \"CartPole-v1\"\nparams = { gravty = 1 }";
        assert!(check(bad).unwrap_err().to_string().contains("gravty"));
        let twice = "total_timesteps = 1\n[[tasks]]\nenv = \"CartPole-v1\"\n[[tasks]]\nenv = \"CartPole-v1\"";
        assert!(check(twice).unwrap_err().to_string().contains("unique"));
    }

    #[test]
    fn a_benchmark_expands_before_the_declared_tasks_with_the_configs_seed() {
        let text = "seed = 7\ntotal_timesteps = 1\nbenchmark = \"metaworld-mt10\"\n\
                    benchmark_num_envs = 2\n[[tasks]]\nenv = \"CartPole-v1\"";
        let mut raw: RawConfig = toml::from_str(text).unwrap();
        raw.expand_benchmark().unwrap();
        assert_eq!(raw.tasks.len(), 11);
        assert_eq!(raw.tasks[0].name.as_deref(), Some("reach-v3"));
        assert_eq!(raw.tasks[0].num_envs, 2);
        assert_eq!(raw.tasks[0].params["seed"], ParamValue::Number(7.0));
        assert_eq!(raw.tasks[10].env, "CartPole-v1");
        assert!(raw.benchmark.is_none() && raw.benchmark_num_envs.is_none());
        // The resolved config lists the tasks, so reading it back adds none.
        let again: RawConfig = toml::from_str(&toml::to_string(&raw).unwrap()).unwrap();
        assert_eq!(again.tasks.len(), 11);
        let lone = "total_timesteps = 1\nbenchmark_num_envs = 2\n[[tasks]]\nenv = \"CartPole-v1\"";
        let err = check(lone).unwrap_err().to_string();
        assert!(err.contains("`benchmark_num_envs`"), "{err}");
        let err = check("total_timesteps = 1\nbenchmark = \"mt10\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`benchmark`"), "{err}");
    }

    #[test]
    fn convolutions_are_checked_against_every_image_task() {
        let tasks = "[[tasks]]\nenv = \"MinAtar/Breakout-v1\"\n[[tasks]]\nenv = \"CartPole-v1\"";
        let with = |conv: &str| check(&format!("total_timesteps = 1\n{tasks}\n{conv}"));
        let c = with("[network.conv]\nscheme = \"adapter\"").unwrap();
        assert_eq!(image_grid(&c.tasks[0]).map(|g| g.channels), Some(4));
        assert_eq!(image_grid(&c.tasks[1]), None);
        let err = with("[network.conv]\nkernel_size = 11")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("network.conv.kernel_size") && err.contains("10×10"),
            "{err}"
        );
        let err = with("[network.conv]\nfilters = 0").unwrap_err().to_string();
        assert!(err.contains("network.conv.filters"), "{err}");
        // Without convolutions the grid's size does not matter.
        assert!(with("[network.conv]\nscheme = \"none\"\nkernel_size = 11").is_ok());
    }
}
