//! A tiny deterministic environment for the wrappers' unit tests.

use crate::{invalid_action, Action, BoxSpace, Env, EnvError, Space, Step};

/// Observation `[episode, t]` (episode = resets so far minus one, t = steps since reset);
/// reward of the `t`-th step = `rewards[(t - 1) % rewards.len()]`; terminates after
/// `terminate_after` steps and reports truncation after `truncate_after` steps if set
/// (without itself refusing to go on). Records the seeds and the last action it got.
#[derive(Debug)]
pub(crate) struct ScriptedEnv {
    obs_space: Space,
    act_space: Space,
    rewards: Vec<f64>,
    /// Terminate at this step of an episode.
    pub terminate_after: Option<u64>,
    /// Report truncation at this step of an episode.
    pub truncate_after: Option<u64>,
    /// Steps since the last reset.
    pub t: u64,
    /// Resets so far.
    pub resets: u64,
    /// The seed argument of every reset, in order.
    pub seeds: Vec<Option<u64>>,
    /// The last action received, flat.
    pub last_action: Vec<f32>,
}

impl ScriptedEnv {
    /// Discrete(2) actions.
    pub fn new(rewards: &[f64], terminate_after: Option<u64>) -> Self {
        Self {
            obs_space: Space::Box(BoxSpace::new(vec![-1e6; 2], vec![1e6; 2])),
            act_space: Space::Discrete(2),
            rewards: rewards.to_vec(),
            terminate_after,
            truncate_after: None,
            t: 0,
            resets: 0,
            seeds: Vec::new(),
            last_action: Vec::new(),
        }
    }

    /// Box actions with these bounds.
    pub fn with_box_actions(mut self, low: &[f32], high: &[f32]) -> Self {
        self.act_space = Space::Box(BoxSpace::new(low.to_vec(), high.to_vec()));
        self
    }

    fn write_obs(&self, obs: &mut [f32]) {
        obs[0] = self.resets.saturating_sub(1) as f32;
        obs[1] = self.t as f32;
    }
}

impl Env for ScriptedEnv {
    fn id(&self) -> &str {
        "Scripted-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        self.seeds.push(seed);
        self.resets += 1;
        self.t = 0;
        self.write_obs(obs);
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        self.last_action.clear();
        match action {
            Action::Discrete(a) => self.last_action.push(a as f32),
            Action::Continuous(a) => self.last_action.extend_from_slice(a),
        }
        if !self.act_space.contains(&self.last_action) {
            return Err(invalid_action(self.id(), action, &self.act_space));
        }
        self.t += 1;
        let reward = self.rewards[(self.t as usize - 1) % self.rewards.len()];
        let terminated = self.terminate_after == Some(self.t);
        self.write_obs(obs);
        let truncated = self.truncate_after == Some(self.t);
        Ok(Step {
            reward,
            terminated,
            truncated,
        })
    }
}
