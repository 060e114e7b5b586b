//! What the actor-critic network is built for: each task's observation and action shapes,
//! and the network's sizes and options ([`crate::actor_critic`] re-exports them).

use crate::conv::{ConvConfig, Grid};
use crate::kernels::KernelChoice;

/// The action space of one task, as the network sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionSpec {
    /// `n` discrete actions: a categorical head with `n` logits.
    Discrete(i64),
    /// A `d`-dimensional box: a Gaussian head with `d` means and a learned log-std.
    Continuous(i64),
}

/// What a task looks like to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskShape {
    /// Length of the flat observation.
    pub obs_dim: i64,
    /// The action space.
    pub action: ActionSpec,
    /// The observation's grid for an image task, whose stem is then convolutional; `None`
    /// for a vector (or a flattened image).
    pub grid: Option<Grid>,
}

impl TaskShape {
    /// A task with flat observations of length `obs_dim`.
    pub fn vector(obs_dim: i64, action: ActionSpec) -> Self {
        Self {
            obs_dim,
            action,
            grid: None,
        }
    }

    /// An image task: observations are `grid`, flattened row-major with the channel last.
    pub fn image(grid: Grid, action: ActionSpec) -> Self {
        Self {
            obs_dim: grid.len(),
            action,
            grid: Some(grid),
        }
    }
}

/// Network sizes and options.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Widths of the hidden layers: without image tasks the first is each task's stem, the
    /// rest the shared trunk; with image tasks all are the shared trunk's.
    pub hidden: Vec<i64>,
    /// The convolutional stems of image tasks.
    pub conv: ConvConfig,
    /// Value heads on the actor's trunk instead of a separate critic trunk.
    pub shared_critic: bool,
    /// Initial log standard deviation of Gaussian policies.
    pub init_log_std: f64,
    /// Which implementation runs each of the towers' CPU kernels.
    pub kernels: KernelChoice,
}

impl Default for NetConfig {
    /// CleanRL's 64 × 64 tanh network with a separate critic.
    fn default() -> Self {
        Self {
            hidden: vec![64, 64],
            conv: ConvConfig::default(),
            shared_critic: false,
            init_log_std: 0.0,
            kernels: KernelChoice::default(),
        }
    }
}
