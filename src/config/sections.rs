//! The sections of a run configuration besides the tasks, each with documented defaults.
//! Defaults follow rl-zoo's tuned PPO for CartPole-v1 where a choice had to be made.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which policy-gradient algorithm trains the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlgorithmName {
    /// Proximal Policy Optimization (Schulman et al. 2017), clipped surrogate.
    Ppo,
    /// Advantage Actor-Critic (Mnih et al. 2016), synchronous.
    A2c,
    /// Soft Actor-Critic (Haarnoja et al. 2018), off-policy, box actions; its settings are
    /// in `[sac]`.
    Sac,
}

/// What the learner does with an update whose gradient has a NaN or infinite element
/// (`algorithm.on_nonfinite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNonFinite {
    /// Stop the run (exit 1) naming the task, update, quantity and element; the last
    /// checkpoint, written before the divergence, is kept.
    Stop,
    /// Drop that update, count it (`charts/skipped_updates`) and go on.
    Skip,
}

/// `[algorithm]`: the update rule and its hyperparameters.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmConfig {
    /// `ppo`, `a2c` or `sac`.
    pub name: AlgorithmName,
    /// Steps per environment in each rollout (the batch is `num_envs × num_steps` per task).
    pub num_steps: usize,
    /// Minibatches per epoch; every minibatch holds an equal share of every task's rollout.
    pub num_minibatches: usize,
    /// Passes over each rollout (PPO; A2C always takes one step per rollout).
    pub update_epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Anneal the learning rate linearly to 0 over the run.
    pub anneal_lr: bool,
    /// Discount factor γ.
    pub gamma: f64,
    /// GAE's λ.
    pub gae_lambda: f64,
    /// PPO's clipping range ε.
    pub clip_coef: f64,
    /// Clip the value loss around the old values (CleanRL's `clip_vloss`).
    pub clip_vloss: bool,
    /// Entropy-bonus coefficient.
    pub ent_coef: f64,
    /// Value-loss coefficient.
    pub vf_coef: f64,
    /// Clip the global gradient norm at this value.
    pub max_grad_norm: f64,
    /// Normalise advantages per task and minibatch.
    pub norm_adv: bool,
    /// Stop a rollout's epochs early once the mean approximate KL exceeds this (none if unset).
    pub target_kl: Option<f64>,
    /// Adam's ε.
    pub adam_eps: f64,
    /// What to do with an update whose gradient is not finite: `stop` (default) or `skip`.
    pub on_nonfinite: OnNonFinite,
}

impl Default for AlgorithmConfig {
    /// rl-zoo's PPO for CartPole-v1: 32 steps, 1 minibatch of 256 with 8 envs, 20 epochs,
    /// lr 1e-3 annealed, γ 0.98, λ 0.8, ε 0.2, no entropy bonus.
    fn default() -> Self {
        Self {
            name: AlgorithmName::Ppo,
            num_steps: 32,
            num_minibatches: 1,
            update_epochs: 20,
            learning_rate: 1e-3,
            anneal_lr: true,
            gamma: 0.98,
            gae_lambda: 0.8,
            clip_coef: 0.2,
            clip_vloss: false,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            norm_adv: true,
            target_kl: None,
            adam_eps: 1e-5,
            on_nonfinite: OnNonFinite::Stop,
        }
    }
}

/// `[network]`: sizes of the actor-critic.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Hidden widths. Without image tasks, the first is each task's own input stem and the rest
    /// are shared by all tasks; with image tasks (and `conv.scheme` not `none`), all are shared
    /// trunk layers after the convolutions. Empty (the default): 64 × 64 for PPO and A2C,
    /// 256 × 256 for SAC.
    pub hidden: Vec<i64>,
    /// `[network.conv]`: the convolutional stems of image tasks.
    pub conv: ConvSection,
    /// Put the value heads on the actor's trunk instead of a separate critic trunk.
    pub shared_critic: bool,
    /// Initial log standard deviation of Gaussian policies (continuous actions).
    pub init_log_std: f64,
}

impl Default for NetworkConfig {
    /// The algorithm's widths (filled in by validation), separate critic, as CleanRL and
    /// rl-zoo.
    fn default() -> Self {
        Self {
            hidden: Vec::new(),
            conv: ConvSection::default(),
            shared_critic: false,
            init_log_std: 0.0,
        }
    }
}

/// How image tasks share convolutional layers (`network.conv.scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvSchemeName {
    /// A convolution per task (the MinAtar paper's network).
    PerTask,
    /// A 1×1 channel adapter per task, then one shared convolution.
    Adapter,
    /// No convolution: image observations are flattened into a dense stem.
    None,
}

/// `[network.conv]`: the convolutional stems of image tasks (observations of shape
/// `[H, W, C]`); see `polytask_agents::conv`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvSection {
    /// `per-task`, `adapter` or `none`.
    pub scheme: ConvSchemeName,
    /// Output channels of the convolution.
    pub filters: i64,
    /// Side of its square kernel.
    pub kernel_size: i64,
    /// Its stride (no padding).
    pub stride: i64,
    /// The adapters' common channel count (`adapter` scheme).
    pub adapter_channels: i64,
}

impl Default for ConvSection {
    /// The MinAtar paper's network (16 filters 3×3, stride 1) per task; adapters to 8 channels.
    fn default() -> Self {
        Self {
            scheme: ConvSchemeName::PerTask,
            filters: 16,
            kernel_size: 3,
            stride: 1,
            adapter_channels: 8,
        }
    }
}

impl ConvSection {
    /// The network's convolution options, or `None` for `scheme = "none"`.
    pub fn to_conv(&self) -> Option<polytask_agents::conv::ConvConfig> {
        use polytask_agents::conv::{ConvConfig, ConvScheme};
        let scheme = match self.scheme {
            ConvSchemeName::PerTask => ConvScheme::PerTask,
            ConvSchemeName::Adapter => ConvScheme::Adapter {
                channels: self.adapter_channels,
            },
            ConvSchemeName::None => return None,
        };
        Some(ConvConfig {
            scheme,
            filters: self.filters,
            kernel_size: self.kernel_size,
            stride: self.stride,
        })
    }
}

/// `[surgery]`: how per-task gradients of the shared weights are combined.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurgeryConfig {
    /// Aggregator name (`sum`, `mean`, `pcgrad`, `mgda`, `upgrad`, ...).
    pub aggregator: String,
    /// The aggregator's hyperparameters by name (`params = { max_iters = 50 }`, also spelled
    /// `aggregator_params`); the ones not given keep their published defaults.
    #[serde(default, alias = "aggregator_params")]
    pub params: BTreeMap<String, f64>,
}

impl Default for SurgeryConfig {
    fn default() -> Self {
        Self {
            aggregator: "sum".to_string(),
            params: BTreeMap::new(),
        }
    }
}

/// `[weighting]`: adaptive task weights that multiply each task's gradient before surgery
/// combines them (see `polytask_agents::weighting`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightingConfig {
    /// `none`, `uncertainty`, `gradnorm`, `dwa`, `famo`, `cosine-gating`, `hydalearn`, `arml`
    /// or `ol-aux`.
    pub name: String,
    /// The method's hyperparameters by name; the ones not given keep their published
    /// defaults.
    pub params: BTreeMap<String, f64>,
}

impl Default for WeightingConfig {
    fn default() -> Self {
        Self {
            name: "none".to_string(),
            params: BTreeMap::new(),
        }
    }
}

/// The default of `logging.pairwise_limit`: 10 rows make 45 pairs, as many lines as one
/// conflict plot can still tell apart and the most that `polytask compare` tabulates pair by
/// pair.
pub const DEFAULT_PAIRWISE_LIMIT: usize = 10;

/// `[logging]`: where and how often the run reports.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Parent folder of run directories.
    pub run_dir: String,
    /// Write losses and surgery metrics every this many updates (episode returns always);
    /// 0 (the default): every update for PPO and A2C, every 100th for SAC.
    pub log_interval: usize,
    /// Write a checkpoint every this many updates (0: only at the end).
    pub checkpoint_interval: usize,
    /// Up to this many gradient rows (tasks plus auxiliary losses), log every pair's gradient
    /// cosine as its own scalar (`surgery/cos_sim/<a>__<b>`); above it, log their summary
    /// (histogram, quantiles, share of conflicting pairs, the most conflicting pairs by name;
    /// see docs/surgery.md). Default 10 rows, 45 pairs.
    pub pairwise_limit: usize,
    /// Episodes per task of the evaluation at the end of training (0: none).
    pub eval_episodes: usize,
    /// No progress bar (for CI and scripts).
    pub quiet: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            run_dir: "runs".to_string(),
            log_interval: 0,
            checkpoint_interval: 0,
            pairwise_limit: DEFAULT_PAIRWISE_LIMIT,
            eval_episodes: 10,
            quiet: false,
        }
    }
}
