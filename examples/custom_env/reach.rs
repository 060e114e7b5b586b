//! `Reach-v0`: a one-dimensional reach task, written against polytask's [`Env`] trait the way
//! a user's own environment would be.
//!
//! A corridor of cells `0..=length`. Each episode draws a start cell and a different goal
//! cell, uniformly, from the random stream that `reset`'s seed starts. Every step the agent
//! moves left, stays or moves right (`Discrete(3)`; a wall stops it), receives a reward of
//! -1, and the episode terminates on the goal cell; it is truncated after 100 steps.
//! Observation: `[position / length, goal / length]`, inside `Box(0, 1, [2])`.
//!
//! # Optimum
//!
//! Walking straight to the goal takes `|start - goal|` steps, so the best return of an
//! episode is `-|start - goal|`. Over two distinct cells drawn uniformly from `n = length + 1`
//! cells the mean distance is `(n + 1) / 3` (the `n (n - 1) / 2` pairs `i < j` have distances
//! summing to `(n + 1) n (n - 1) / 6`), so the optimal mean return is `-(length + 2) / 3`:
//! -4 for the default length 10. A policy that picks actions uniformly at random does far
//! worse (about -47 at length 10, see `random_return` in main.rs).

use polytask::envs::rng::{seeded, NpRandom};
use polytask::envs::{
    invalid_action, Action, BoxSpace, Env, EnvError, EnvSpec, ParamSpec, Registry, Resolved, Space,
    Step,
};

/// The id under which [`spec`] registers the environment.
pub const ID: &str = "Reach-v0";

/// The corridor's length when a config does not set `length`.
pub const DEFAULT_LENGTH: f64 = 10.0;

/// The parameters a config may set, e.g. `params = { length = 20 }`.
const PARAMS: [ParamSpec; 1] = [ParamSpec {
    name: "length",
    default: DEFAULT_LENGTH,
    doc: "the last cell of the corridor (cells 0..=length; a whole number from 1 to 1000)",
}];

/// `Reach-v0`'s registration: id, parameters, constructor, time limit and a summary for
/// `polytask envs`.
pub fn spec() -> EnvSpec {
    EnvSpec::new(ID, &PARAMS, |p| Ok(Box::new(Reach::with_params(p)?)))
        .max_episode_steps(100)
        .summary("walk to a goal cell in a 1-D corridor; optimal mean return -(length + 2) / 3")
}

/// The built-in environments plus `Reach-v0`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register(spec());
    registry
}

/// The optimal policy's mean return at corridor length `length` (see the module docs).
pub fn optimal_return(length: u32) -> f64 {
    -(f64::from(length) + 2.0) / 3.0
}

/// The reach task (see the module documentation).
#[derive(Debug, Clone)]
pub struct Reach {
    length: u32,
    /// `(position, goal)`; `None` before the first reset.
    state: Option<(u32, u32)>,
    /// Seeded by `reset(Some(seed))`, as Gymnasium's `np_random`.
    rng: Option<NpRandom>,
    observation_space: Space,
    action_space: Space,
}

impl Reach {
    /// A corridor of cells `0..=length` (`length` at least 1).
    pub fn new(length: u32) -> Self {
        assert!(length >= 1, "Reach needs at least two cells");
        Self {
            length,
            state: None,
            rng: None,
            observation_space: Space::Box(BoxSpace::new(vec![0.0; 2], vec![1.0; 2])),
            action_space: Space::Discrete(3),
        }
    }

    /// The environment with checked parameters; a bad value is an error naming it.
    fn with_params(p: &Resolved<'_>) -> Result<Self, EnvError> {
        let whole = |v: f64| v.fract() == 0.0 && (1.0..=1000.0).contains(&v);
        let length = p.check("length", whole, "must be a whole number from 1 to 1000")?;
        Ok(Self::new(length as u32))
    }

    fn observe(&self, obs: &mut [f32]) {
        let (position, goal) = self.state.expect("observed after a reset");
        obs[0] = position as f32 / self.length as f32;
        obs[1] = goal as f32 / self.length as f32;
    }
}

impl Env for Reach {
    fn id(&self) -> &str {
        ID
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        let rng = seeded(&mut self.rng, seed);
        let cells = u64::from(self.length) + 1;
        let start = rng.next_raw() % cells;
        let goal = (start + 1 + rng.next_raw() % (cells - 1)) % cells;
        self.state = Some((start as u32, goal as u32));
        self.observe(obs);
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let (position, goal) = self.state.ok_or_else(|| EnvError::NeedsReset {
            env: ID.to_string(),
            when: "before reset",
        })?;
        let position = match action {
            Action::Discrete(0) => position.saturating_sub(1),
            Action::Discrete(1) => position,
            Action::Discrete(2) => (position + 1).min(self.length),
            _ => return Err(invalid_action(ID, action, &self.action_space)),
        };
        self.state = Some((position, goal));
        self.observe(obs);
        Ok(Step {
            reward: -1.0,
            terminated: position == goal,
            truncated: false,
        })
    }
}
