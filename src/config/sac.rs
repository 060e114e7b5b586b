//! `[sac]`: the hyperparameters of Soft Actor-Critic (`algorithm.name = "sac"`), with
//! Stable-Baselines3 2.9's `SAC` defaults, and the checks that a config suits SAC.

use serde::{Deserialize, Serialize};

use polytask_agents::sac::{SacConfig, Temperature};

use super::{AlgorithmConfig, LoggingConfig, NetworkConfig, Task};
use crate::error::usage;

/// `[sac]`: read when `algorithm.name = "sac"`. Sizes are per task: every minibatch holds
/// `batch_size` transitions of every task, drawn from that task's own buffer of
/// `buffer_size`. mtrl and Meta-World+ state one total batch for all tasks (mtrl's MT10
/// config: 1280 = 128 per task), so their total batch is `batch_size × tasks` here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacSection {
    /// Environment steps per task (of the task with the fewest environments) taken with
    /// uniformly random actions before the first update (SB3: 100).
    pub learning_starts: u64,
    /// Steps of every environment between two rounds of updates (SB3: 1).
    pub train_freq: usize,
    /// Gradient steps per round (SB3: 1).
    pub gradient_steps: usize,
    /// Transitions of each task in a minibatch (SB3: 256).
    pub batch_size: usize,
    /// Transitions each task's replay buffer holds (SB3: 1 000 000).
    pub buffer_size: usize,
    /// Discount factor γ (SB3: 0.99).
    pub gamma: f64,
    /// Polyak coefficient τ of the target critic (SB3: 0.005).
    pub tau: f64,
    /// Adam's learning rate for actor, critic and temperatures unless set apart (SB3: 3e-4).
    pub learning_rate: f64,
    /// The actor's learning rate, if not `learning_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_lr: Option<f64>,
    /// The critic's learning rate, if not `learning_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_lr: Option<f64>,
    /// The temperatures' learning rate, if not `learning_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha_lr: Option<f64>,
    /// The entropy temperature: `"auto"` (learned per task from 1), `"auto_<init>"` (learned
    /// from `<init>`) or a number (fixed), as SB3's `ent_coef`.
    pub ent_coef: EntCoef,
    /// Target entropy of the learned temperatures: `"auto"` (`−|A_t|` for task `t`) or a
    /// number.
    pub target_entropy: EntCoef,
    /// Save the replay buffers with each checkpoint (incrementally), so that a resumed run
    /// continues exactly; without them a resumed run starts with empty buffers.
    pub save_replay: bool,
}

/// A number or a word (`ent_coef` and `target_entropy`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum EntCoef {
    /// A fixed value.
    Value(f64),
    /// `auto` or `auto_<init>`.
    Word(String),
}

impl Default for SacSection {
    fn default() -> Self {
        Self {
            learning_starts: 100,
            train_freq: 1,
            gradient_steps: 1,
            batch_size: 256,
            buffer_size: 1_000_000,
            gamma: 0.99,
            tau: 0.005,
            learning_rate: 3e-4,
            actor_lr: None,
            critic_lr: None,
            alpha_lr: None,
            ent_coef: EntCoef::Word("auto".to_string()),
            target_entropy: EntCoef::Word("auto".to_string()),
            save_replay: true,
        }
    }
}

/// The hidden widths of SAC's networks when `network.hidden` is not given (SB3's SAC).
pub const DEFAULT_HIDDEN: [i64; 2] = [256, 256];

/// The default `logging.log_interval` of SAC runs, in updates: CleanRL's SAC logs its losses
/// every 100 steps (a single-task run then writes about 7 MB of events per million steps).
pub const DEFAULT_LOG_INTERVAL: usize = 100;

/// The largest replay buffer accepted per task: above any published setting, low enough
/// that a typo fails at once.
const MAX_BUFFER: usize = 1 << 30;

impl SacSection {
    /// The entropy temperature, or a message for `sac.ent_coef`.
    fn temperature(&self) -> Result<Temperature, String> {
        match &self.ent_coef {
            EntCoef::Value(v) if v.is_finite() && *v > 0.0 => Ok(Temperature::Fixed(*v)),
            EntCoef::Value(v) => Err(format!("{v} must be positive")),
            EntCoef::Word(w) if w == "auto" => Ok(Temperature::Learned { init: 1.0 }),
            EntCoef::Word(w) => match w.strip_prefix("auto_").map(str::parse::<f64>) {
                Some(Ok(init)) if init.is_finite() && init > 0.0 => {
                    Ok(Temperature::Learned { init })
                }
                _ => Err(format!(
                    "`{w}` is not `auto`, `auto_<positive number>` or a positive number"
                )),
            },
        }
    }

    /// The target entropy (`None`: automatic), or a message for `sac.target_entropy`.
    fn target(&self) -> Result<Option<f64>, String> {
        match &self.target_entropy {
            EntCoef::Value(v) if v.is_finite() => Ok(Some(*v)),
            EntCoef::Word(w) if w == "auto" => Ok(None),
            other => Err(format!("{other:?} is not `auto` or a finite number")),
        }
    }

    /// The learner's configuration with the network's `hidden` widths.
    ///
    /// # Panics
    /// If the section was not checked ([`check`]).
    pub fn learner(&self, hidden: &[i64]) -> SacConfig {
        let lr = self.learning_rate;
        SacConfig {
            hidden: hidden.to_vec(),
            gamma: self.gamma,
            tau: self.tau,
            actor_lr: self.actor_lr.unwrap_or(lr),
            critic_lr: self.critic_lr.unwrap_or(lr),
            alpha_lr: self.alpha_lr.unwrap_or(lr),
            temperature: self.temperature().expect("a checked [sac] section"),
            target_entropy: self.target().expect("a checked [sac] section"),
        }
    }
}

/// Checks `[sac]` and that the rest of the config suits SAC: box actions, vector
/// observations, no PPO keys in `[algorithm]`, no auxiliary losses or normalisation.
pub fn check(
    sac: &SacSection,
    algorithm: &AlgorithmConfig,
    network: &NetworkConfig,
    tasks: &[Task],
    aux_losses: usize,
) -> anyhow::Result<()> {
    let fail = |key: &str, what: &str| Err(usage(format!("config: `{key}` {what}")));
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let rates = [
        ("learning_rate", Some(sac.learning_rate)),
        ("actor_lr", sac.actor_lr),
        ("critic_lr", sac.critic_lr),
        ("alpha_lr", sac.alpha_lr),
    ];
    for (key, rate) in rates {
        if rate.is_some_and(|r| !positive(r)) {
            return fail(&format!("sac.{key}"), "must be a positive number");
        }
    }
    let counts = [
        ("train_freq", sac.train_freq),
        ("gradient_steps", sac.gradient_steps),
        ("batch_size", sac.batch_size),
    ];
    for (key, n) in counts {
        if n == 0 || n > super::MAX_NUM_STEPS {
            let what = format!("must be from 1 to {}", super::MAX_NUM_STEPS);
            return fail(&format!("sac.{key}"), &what);
        }
    }
    if sac.buffer_size == 0 || sac.buffer_size > MAX_BUFFER {
        return fail(
            "sac.buffer_size",
            &format!("must be from 1 to {MAX_BUFFER}"),
        );
    }
    if !(sac.gamma > 0.0 && sac.gamma <= 1.0) {
        return fail("sac.gamma", "must be in (0, 1]");
    }
    if !(sac.tau > 0.0 && sac.tau <= 1.0) {
        return fail("sac.tau", "must be in (0, 1]");
    }
    sac.temperature()
        .map_err(|e| usage(format!("config: `sac.ent_coef`: {e}")))?;
    sac.target()
        .map_err(|e| usage(format!("config: `sac.target_entropy`: {e}")))?;
    check_other_sections(algorithm, network, tasks, aux_losses)
}

/// The keys of `section` (as TOML) whose values differ from `default`'s, but for `allowed`.
fn changed_keys<T: Serialize>(section: &T, default: &T, allowed: &[&str]) -> Vec<String> {
    let table = |x: &T| toml::Table::try_from(x).unwrap_or_default();
    let (given, default) = (table(section), table(default));
    (given.iter())
        .filter(|(k, v)| !allowed.contains(&k.as_str()) && default.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

fn check_other_sections(
    algorithm: &AlgorithmConfig,
    network: &NetworkConfig,
    tasks: &[Task],
    aux_losses: usize,
) -> anyhow::Result<()> {
    let ppo_keys = changed_keys(
        algorithm,
        &AlgorithmConfig::default(),
        &["name", "on_nonfinite"],
    );
    if let Some(key) = ppo_keys.first() {
        return Err(usage(format!(
            "config: `algorithm.{key}` is a PPO/A2C setting, but `algorithm.name` is \"sac\"; \
             SAC's settings are in the [sac] section (see docs/config.md)"
        )));
    }
    let net_keys = changed_keys(network, &NetworkConfig::default(), &["hidden", "conv"]);
    if let Some(key) = net_keys.first() {
        return Err(usage(format!(
            "config: `network.{key}` does not apply to SAC, whose actor and critic always have \
             their own trunks and whose policy's spread is state-dependent; remove it"
        )));
    }
    if aux_losses > 0 {
        return Err(usage(
            "config: `aux_losses` are not supported with `algorithm.name = \"sac\"` (they \
             learn from PPO's rollouts); remove them or train with PPO",
        ));
    }
    for (i, task) in tasks.iter().enumerate() {
        if task.normalize_obs || task.normalize_reward {
            return Err(usage(format!(
                "config: `tasks[{i}].normalize_obs`/`normalize_reward` are not supported with \
                 SAC (SB3's SAC does not normalise either by default); remove them"
            )));
        }
        if task.obs_shape.len() != 1 {
            return Err(usage(format!(
                "config: task `{}` has image observations; SAC here takes vector \
                 observations only (train image tasks with PPO)",
                task.name
            )));
        }
    }
    Ok(())
}

/// Fills the algorithm-dependent defaults of `network.hidden` and `logging.log_interval`
/// (given as empty and 0): SB3's 256 × 256 and [`DEFAULT_LOG_INTERVAL`] for SAC, 64 × 64
/// and every update for PPO and A2C.
pub fn fill_defaults(sac: bool, network: &mut NetworkConfig, logging: &mut LoggingConfig) {
    if network.hidden.is_empty() {
        network.hidden = match sac {
            true => DEFAULT_HIDDEN.to_vec(),
            false => vec![64, 64],
        };
    }
    if logging.log_interval == 0 {
        logging.log_interval = if sac { DEFAULT_LOG_INTERVAL } else { 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(ent_coef: EntCoef) -> SacSection {
        SacSection {
            ent_coef,
            ..SacSection::default()
        }
    }

    #[test]
    fn ent_coef_reads_as_sb3_does() {
        let word = |w: &str| with(EntCoef::Word(w.to_string())).temperature();
        assert_eq!(word("auto"), Ok(Temperature::Learned { init: 1.0 }));
        assert_eq!(word("auto_0.1"), Ok(Temperature::Learned { init: 0.1 }));
        assert_eq!(
            with(EntCoef::Value(0.2)).temperature(),
            Ok(Temperature::Fixed(0.2))
        );
        assert!(word("auto_x").is_err());
        assert!(word("fixed").is_err());
        assert!(with(EntCoef::Value(-1.0)).temperature().is_err());
    }

    #[test]
    fn rates_default_to_the_common_learning_rate() {
        let section = SacSection {
            learning_rate: 1e-3,
            critic_lr: Some(5e-4),
            ..SacSection::default()
        };
        let learner = section.learner(&[8]);
        assert_eq!(
            [learner.actor_lr, learner.critic_lr, learner.alpha_lr],
            [1e-3, 5e-4, 1e-3]
        );
        assert_eq!(learner.hidden, [8]);
        assert_eq!(learner.target_entropy, None);
    }
}
