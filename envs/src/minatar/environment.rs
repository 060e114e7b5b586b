//! [`MinAtar`]: a [`Game`] behind the package's `Environment` (sticky actions, seeding) and
//! `minatar.gym.BaseEnv` (action set, observation), as `gymnasium.make` gives it.

use serde::{Deserialize, Serialize};

use super::game::{Game, Move};
use super::random_state::{RandomState, SavedRandomState};
use crate::state::bad_state;
use crate::state::{load_tagged, save_tagged};
use crate::{invalid_action, Action, BoxSpace, Env, EnvError, Resolved, Space, Step};

/// Which actions the id offers: the `-v0` ids all six, the `-v1` ids the game's minimal set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionSet {
    /// `n l u r d f` (`use_minimal_action_set=False`, the `-v0` ids).
    Full,
    /// The game's `minimal_action_set()` (`use_minimal_action_set=True`, the `-v1` ids).
    Minimal,
}

/// A MinAtar game as `gymnasium.make("MinAtar/<Game>-v<k>")` of `minatar` 1.0.15: the
/// sticky-action draw first on every step, one `RandomState` shared by the sticky actions and
/// the game once seeded, `last_action` kept across `reset(None)`. See the
/// [module docs](super) for every quirk and how seeds map.
#[derive(Debug, Clone)]
pub struct MinAtar<G: Game> {
    id: String,
    game: G,
    /// `Environment.random` (which `seed` also makes the game's); `None` before a reset.
    rng: Option<RandomState>,
    /// `Environment.last_action`, an index into the full action set.
    last_action: u8,
    sticky_action_prob: f64,
    actions: &'static [u8],
    /// Whether `reset` has been called (Gymnasium's `OrderEnforcing`).
    started: bool,
    observation_space: Space,
    action_space: Space,
}

/// What [`MinAtar::save_state`](Env::save_state) writes.
#[derive(Serialize, Deserialize)]
struct Saved<G> {
    rng: Option<SavedRandomState>,
    last_action: u8,
    started: bool,
    game: G,
}

const FULL: [u8; 6] = [0, 1, 2, 3, 4, 5];

impl<G: Game> MinAtar<G> {
    /// The game with the package's defaults: sticky-action probability 0.1, difficulty
    /// ramping on.
    pub fn new(actions: ActionSet) -> Self {
        Self::build(actions, 0.1, true)
    }

    /// The game with checked parameters `sticky_action_prob` (in `[0, 1]`) and
    /// `difficulty_ramping` (1 or 0).
    pub fn with_params(actions: ActionSet, p: &Resolved<'_>) -> Result<Self, EnvError> {
        let sticky = p.check(
            "sticky_action_prob",
            |v| (0.0..=1.0).contains(&v),
            "must be a probability in [0, 1]",
        )?;
        let ramping = p.check(
            "difficulty_ramping",
            |v| v == 0.0 || v == 1.0,
            "must be 1 (on) or 0 (off)",
        )?;
        Ok(Self::build(actions, sticky, ramping == 1.0))
    }

    fn build(actions: ActionSet, sticky_action_prob: f64, ramping: bool) -> Self {
        let (actions, version) = match actions {
            ActionSet::Full => (&FULL[..], 0),
            ActionSet::Minimal => (G::MINIMAL_ACTIONS, 1),
        };
        let cells = 100 * G::CHANNELS;
        Self {
            id: format!("MinAtar/{}-v{version}", G::NAME),
            game: G::new(ramping),
            rng: None,
            last_action: 0,
            sticky_action_prob,
            actions,
            started: false,
            observation_space: Space::Box(BoxSpace {
                low: vec![0.0; cells],
                high: vec![1.0; cells],
                shape: vec![10, 10, G::CHANNELS],
            }),
            action_space: Space::Discrete(actions.len()),
        }
    }

    /// The game's state.
    pub fn game(&self) -> &G {
        &self.game
    }

    /// `Environment.last_action`: the last action applied, in the full action set.
    pub fn last_action(&self) -> u8 {
        self.last_action
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let obs = &mut obs[..100 * G::CHANNELS];
        obs.fill(0.0);
        self.game.write_state(obs);
    }
}

impl<G: Game> Env for MinAtar<G> {
    fn id(&self) -> &str {
        &self.id
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    /// `BaseEnv.reset(seed)`. `Some(seed)` starts from a freshly made environment's state:
    /// a new `RandomState` (see the module docs for seeds of 2³² and above) shared with the
    /// game, and `last_action = 0`. `None` keeps the generator and `last_action`, as the
    /// package does.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        if let Some(seed) = seed {
            self.rng = Some(RandomState::from_seed(seed));
            self.last_action = 0;
        }
        let rng = self.rng.get_or_insert_with(RandomState::from_entropy);
        self.game.reset(rng);
        self.started = true;
        self.write_obs(obs);
    }

    /// `BaseEnv.step(action)`: maps the action through the action set, then
    /// `Environment.act`: one `rand()` for the sticky action on every call (also after the
    /// episode ended), then the game's `act` (reward 0 and `terminated` once it has ended).
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<Step, EnvError> {
        let mut a = match action {
            Action::Discrete(i) if i < self.actions.len() => self.actions[i],
            _ => return Err(invalid_action(&self.id, action, &self.action_space)),
        };
        let rng = match (&mut self.rng, self.started) {
            (Some(rng), true) => rng,
            _ => {
                return Err(EnvError::NeedsReset {
                    env: self.id.clone(),
                    when: "before reset",
                })
            }
        };
        if rng.rand() < self.sticky_action_prob {
            a = self.last_action;
        }
        self.last_action = a;
        let reward = if self.game.terminal() {
            0
        } else {
            self.game.act(Move::ALL[usize::from(a)], rng)
        };
        self.write_obs(obs);
        Ok(Step {
            reward: f64::from(reward),
            terminated: self.game.terminal(),
            truncated: false,
        })
    }

    /// The generator, `last_action` and the game, tagged with the id (a `-v0` state does not
    /// load into the `-v1` id or another game).
    fn save_state(&self) -> Option<Vec<u8>> {
        Some(save_tagged(
            &self.id,
            &Saved {
                rng: self.rng.as_ref().map(RandomState::save),
                last_action: self.last_action,
                started: self.started,
                game: self.game.clone(),
            },
        ))
    }

    /// Restores a state saved by this id; on an error nothing changes.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        let saved: Saved<G> = load_tagged(&self.id, &self.id, bytes)?;
        if usize::from(saved.last_action) >= FULL.len() {
            return Err(bad_state(&self.id, "last action is not one of the six"));
        }
        saved.game.validate().map_err(|e| bad_state(&self.id, e))?;
        let rng = match &saved.rng {
            Some(rng) => Some(RandomState::load(rng).map_err(|e| bad_state(&self.id, e))?),
            None => None,
        };
        self.rng = rng;
        self.last_action = saved.last_action;
        self.started = saved.started;
        self.game = saved.game;
        Ok(())
    }
}
