//! MinAtar (Young & Tian 2019, "MinAtar: An Atari-Inspired Testbed for Thorough and
//! Reproducible Reinforcement Learning Experiments", arXiv:1903.03176): five Atari-like games
//! on a 10×10 grid, exact to the `minatar` 1.0.15 PyPI package as
//! `gymnasium.make("MinAtar/<Game>-v<k>")` (Gymnasium 1.4) gives it.
//!
//! | id | channels | `-v1` actions |
//! |----|----------|---------------|
//! | `MinAtar/Asterix-v0`, `-v1` | 4 | `n l u r d` |
//! | `MinAtar/Breakout-v0`, `-v1` | 4 | `n l r` |
//! | `MinAtar/Freeway-v0`, `-v1` | 7 | `n u d` |
//! | `MinAtar/Seaquest-v0`, `-v1` | 10 | all six |
//! | `MinAtar/SpaceInvaders-v0`, `-v1` | 6 | `n l r f` |
//!
//! The `-v0` ids take the six actions `n l u r d f` (indices 0–5), the `-v1` ids the game's
//! `minimal_action_set()` (action i is the i-th of the table's list). Observations are
//! `Box(0, 1, [10, 10, C])`, row-major with the channel last, 0/1 as `f32`: the package's
//! `state()` (a `bool` array) as numbers. Rewards are whole numbers.
//!
//! # Parameters
//! - `sticky_action_prob` (default 0.1): the probability that the previous action is
//!   repeated instead of the one given.
//! - `difficulty_ramping` (default 1; 1 on, 0 off): Asterix, Seaquest and SpaceInvaders
//!   speed up over an episode; Breakout and Freeway ignore it, as in the package.
//! - `max_episode_steps`: the package registers no time limit, so none is the default.
//!   Breakout played well never ends, so training configs and evaluation runs should set
//!   one (`docs/minatar.md` recommends 10 000 steps).
//!
//! # Semantics and quirks reproduced (read from the package's source)
//! - **Random numbers.** NumPy's legacy `RandomState` (MT19937), reproduced in
//!   [`RandomState`]: `rand()` is a 53-bit double from two 32-bit draws; `randint` rejects
//!   masked draws, and draws nothing over a single value.
//! - **Seeding** (`BaseEnv.reset(seed)` → `Environment.seed(seed)`): a new
//!   `RandomState(seed)` becomes both the sticky-action generator and the game's generator,
//!   so after a seeded reset every draw comes from one stream. [`Env::reset`] with
//!   `Some(seed)` does the same and also sets `last_action = 0`: that is the state of a
//!   freshly made environment, so a seeded reset fixes the episode (the package, reseeding an
//!   instance that has played, keeps its `last_action`). A seed `s < 2³²` is exactly
//!   `RandomState(s)`; NumPy rejects larger integers, and polytask uses
//!   `RandomState([s & 0xffffffff, s >> 32])` (`init_by_array` with the two 32-bit words).
//! - **Unseeded.** A first `reset(None)` seeds from the operating system (the package's
//!   `Environment` and game then hold two unseeded generators; either way it is not
//!   reproducible). `reset(None)` later continues the stream and keeps `last_action`, as the
//!   package's `Environment.reset` does not touch either.
//! - **Draw order in a step** (`Environment.act`): one `rand()` for the sticky action first,
//!   on every call, also once the episode has ended; then the game's draws.
//!   `last_action` holds the full-set action actually applied (after the `-v1` mapping and
//!   after stickiness).
//! - **After the end**, `step` draws the sticky `rand()`, updates `last_action`, returns
//!   reward 0 and `terminated`, and leaves the state alone (the games' `act` returns early).
//!   `step` before the first `reset` is [`EnvError::NeedsReset`](crate::EnvError), as
//!   Gymnasium's `OrderEnforcing` wrapper raises `ResetNeeded`.
//! - **Invalid actions** are [`EnvError::InvalidAction`](crate::EnvError); the package would
//!   raise `IndexError` for a large one and wrap a negative one round.
//! - **Asterix.** Spawning draws `rand()` (side), `rand()` (gold with probability 1/3) even
//!   when all eight rows are taken, then `randint(free rows)` (no draw with one free row).
//!   The difficulty first ramps on frame 102 and then every 102 frames (`ramp_timer` counts
//!   down from 100 through 0 to −1 before it ramps).
//! - **Breakout.** `reset` draws `randint(2)` for the ball's start. A brick hit on the frame
//!   right after another hit is neither broken nor bounced off: the ball enters its cell.
//!   Bricks come back only when the ball reaches the bottom row with none left. On a paddle
//!   hit the ball keeps its new column and returns to the row it came from.
//! - **Freeway.** `_randomize_cars` draws all eight speeds (`randint(1, 6, 8)`) before the
//!   eight directions (`np.sign(rand(8) - 0.5)`); a `rand()` of exactly 0.5 gives speed 0,
//!   which the package moves left every frame and draws with the previous car's trail
//!   channel (reproduced; probability 2⁻⁵³ per draw). The episode ends on the 2501st frame.
//! - **Seaquest.** Entity lists are updated as Python does while removing during
//!   `reversed(...)` iteration with `list.remove` (first *equal* element), see `py_list.rs`.
//!   An enemy sub that moves onto a friendly bullet in its own update, in the frame its shot
//!   timer is due, still fires (the bullet stays in play); one that leaves the screen then
//!   fires a bullet that leaves in the same frame. Surfacing with six divers pays
//!   `oxygen * 10 // 200` and leaves `diver_count` at −1 (then −2, ...), so such surfacings
//!   do not end the episode. Oxygen reaching 0 ends the episode at the next frame's check.
//! - **SpaceInvaders.** The alien block wraps round: stepping down with aliens on the bottom
//!   row ends the episode but also moves that row to the top (`np.roll`). Bullets and aliens
//!   collide only on equal cells after both moved (no crossing check). No random draws.
//!
//! # Speed
//! Each game keeps its state in small fixed arrays (bit rows for maps); a step writes the
//! whole observation (a fill of zeros, then the 1-cells), which with 400–1000 `f32` values is
//! most of its cost. Nothing allocates per step (Seaquest's lists keep their capacity).

mod asterix;
mod breakout;
mod environment;
mod freeway;
mod game;
mod py_list;
mod random_state;
mod seaquest;
mod space_invaders;

pub use asterix::Asterix;
pub use breakout::Breakout;
pub use environment::{ActionSet, MinAtar};
pub use freeway::Freeway;
pub use game::{Game, Move};
pub use random_state::RandomState;
pub use seaquest::Seaquest;
pub use space_invaders::SpaceInvaders;

use crate::{Env, EnvSpec, ParamSpec};

const PARAMS: [ParamSpec; 2] = [
    ParamSpec {
        name: "sticky_action_prob",
        default: 0.1,
        doc: "probability that the previous action is repeated (in [0, 1])",
    },
    ParamSpec {
        name: "difficulty_ramping",
        default: 1.0,
        doc:
            "1: the game speeds up over an episode, 0: it does not (Breakout and Freeway ignore it)",
    },
];

/// The specs of the ten MinAtar ids (`-v0` full action set, `-v1` minimal), without a time
/// limit, as `minatar.gym.register_envs` registers them.
pub fn specs() -> Vec<EnvSpec> {
    let mut specs = Vec::with_capacity(10);
    push::<Asterix>(&mut specs, "avoid enemies and collect gold in eight lanes");
    push::<Breakout>(
        &mut specs,
        "break three rows of bricks with a ball and paddle",
    );
    push::<Freeway>(
        &mut specs,
        "cross eight lanes of traffic as often as possible",
    );
    push::<Seaquest>(
        &mut specs,
        "shoot enemies and rescue divers with a submarine that must surface for oxygen",
    );
    push::<SpaceInvaders>(
        &mut specs,
        "shoot a marching block of aliens that shoots back",
    );
    specs
}

fn push<G: Game>(specs: &mut Vec<EnvSpec>, what: &str) {
    for (actions, version, set) in [
        (ActionSet::Full, 0, "all six actions"),
        (ActionSet::Minimal, 1, "minimal action set"),
    ] {
        let id = format!("MinAtar/{}-v{version}", G::NAME);
        let summary = format!("{what}; {set} (minatar 1.0.15 {})", G::NAME);
        specs.push(
            EnvSpec::new(id, &PARAMS, move |p| {
                Ok(Box::new(MinAtar::<G>::with_params(actions, p)?) as Box<dyn Env>)
            })
            .summary(summary),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, EnvError, Params, Registry, Space};

    #[test]
    fn ten_ids_with_the_packages_spaces_and_no_time_limit() {
        let registry = Registry::builtin();
        let expected = [
            ("Asterix", 4, 5),
            ("Breakout", 4, 3),
            ("Freeway", 7, 3),
            ("Seaquest", 10, 6),
            ("SpaceInvaders", 6, 4),
        ];
        for (name, channels, minimal) in expected {
            for (version, n) in [(0, 6), (1, minimal)] {
                let id = format!("MinAtar/{name}-v{version}");
                let spec = registry.spec(&id).unwrap();
                assert_eq!(spec.max_episode_steps, None, "{id}");
                let env = spec.make(&Params::new()).unwrap();
                assert_eq!(env.id(), id);
                assert_eq!(env.action_space(), &Space::Discrete(n), "{id}");
                let Space::Box(b) = env.observation_space() else {
                    panic!("{id}: not a box");
                };
                assert_eq!(b.shape, [10, 10, channels], "{id}");
                assert!(b.low.iter().all(|&l| l == 0.0) && b.high.iter().all(|&h| h == 1.0));
            }
        }
    }

    #[test]
    fn parameters_are_checked_and_named_in_errors() {
        let registry = Registry::builtin();
        for (name, bad) in [
            ("sticky_action_prob", 1.5),
            ("sticky_action_prob", f64::NAN),
            ("difficulty_ramping", 0.5),
        ] {
            let err = registry
                .make("MinAtar/Asterix-v0", &Params::new().with(name, bad))
                .err()
                .unwrap();
            assert!(
                matches!(&err, EnvError::InvalidParam { name: n, .. } if n == name),
                "{err}"
            );
        }
        let limited = registry
            .make(
                "MinAtar/Breakout-v1",
                &Params::new().with("max_episode_steps", 3.0),
            )
            .unwrap();
        let mut env = limited;
        let mut obs = vec![0.0; 400];
        env.reset(Some(0), &mut obs);
        let steps: Vec<bool> = (0..3)
            .map(|_| env.step(Action::Discrete(0), &mut obs).unwrap().truncated)
            .collect();
        assert_eq!(steps, [false, false, true]);
    }

    #[test]
    fn every_id_passes_check_env_without_stickiness_or_ramping() {
        let params = Params::new()
            .with("sticky_action_prob", 0.0)
            .with("difficulty_ramping", 0.0);
        for spec in specs() {
            let mut env = spec.make(&params).unwrap();
            let options = crate::CheckOptions {
                seed: 5,
                steps: 300,
            };
            let report =
                crate::check_env_with(&mut *env, &options).unwrap_or_else(|e| panic!("{e}"));
            assert!(report.warnings.is_empty(), "{report:?}");
        }
    }

    #[test]
    fn invalid_actions_and_steps_before_reset_are_errors() {
        let mut env = MinAtar::<Breakout>::new(ActionSet::Minimal);
        let mut obs = vec![0.0; 400];
        assert!(matches!(
            env.step(Action::Discrete(0), &mut obs),
            Err(EnvError::NeedsReset { .. })
        ));
        env.reset(Some(1), &mut obs);
        for bad in [Action::Discrete(3), Action::Continuous(&[0.0])] {
            assert!(matches!(
                env.step(bad, &mut obs),
                Err(EnvError::InvalidAction { .. })
            ));
        }
    }

    #[test]
    fn a_seeded_reset_restarts_the_stream_and_forgets_the_last_action() {
        let mut env = MinAtar::<Freeway>::new(ActionSet::Full);
        let mut first = vec![0.0; 700];
        env.reset(Some(9), &mut first);
        let mut obs = vec![0.0; 700];
        for _ in 0..20 {
            env.step(Action::Discrete(2), &mut obs).unwrap();
        }
        assert_eq!(env.last_action(), 2);
        env.reset(None, &mut obs);
        assert_eq!(env.last_action(), 2, "reset(None) keeps last_action");
        env.reset(Some(9), &mut obs);
        assert_eq!(env.last_action(), 0);
        assert_eq!(obs, first);
    }
}
