//! What the five MinAtar games share: the action set `n l u r d f` and the [`Game`] trait
//! that [`MinAtar`](super::MinAtar) drives (the role of `minatar/environments/<game>.py`'s
//! `Env` class under `minatar/environment.py`'s `Environment`).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::RandomState;

/// One of MinAtar's six actions, `action_map = ['n','l','u','r','d','f']`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// `n`: no-op.
    Noop,
    /// `l`: left.
    Left,
    /// `u`: up.
    Up,
    /// `r`: right.
    Right,
    /// `d`: down.
    Down,
    /// `f`: fire.
    Fire,
}

impl Move {
    /// The six actions in the package's order (index = the full action set's action).
    pub const ALL: [Move; 6] = [
        Move::Noop,
        Move::Left,
        Move::Up,
        Move::Right,
        Move::Down,
        Move::Fire,
    ];
}

/// A MinAtar game: its state, `reset`, `act` and `state()`, operation for operation as the
/// package's `Env` class of that game.
pub trait Game: Clone + std::fmt::Debug + Send + Serialize + DeserializeOwned + 'static {
    /// The name used in the ids, e.g. `Breakout` for `MinAtar/Breakout-v0`.
    const NAME: &'static str;
    /// The channel count C of the `[10, 10, C]` observation (`state_shape()[2]`).
    const CHANNELS: usize;
    /// `minimal_action_set()`: the actions (indices into [`Move::ALL`]) of the `-v1` id.
    const MINIMAL_ACTIONS: &'static [u8];

    /// The game before its first reset, with `difficulty_ramping` on or off (Breakout and
    /// Freeway ignore it, as the package does).
    fn new(ramping: bool) -> Self;

    /// `Env.reset()`: the start state of an episode, drawing from `rng` where the game does.
    fn reset(&mut self, rng: &mut RandomState);

    /// `difficulty_ramp()`: how often the difficulty has ramped this episode; `None` for the
    /// games without ramping (Breakout, Freeway).
    fn difficulty_ramp(&self) -> Option<i32>;

    /// Whether the episode has ended (`Env.terminal`).
    fn terminal(&self) -> bool;

    /// `Env.act(a)` for a game that is not terminal: advances one frame and returns the reward.
    fn act(&mut self, action: Move, rng: &mut RandomState) -> u32;

    /// `Env.state()`: sets the 1-cells of the `[10, 10, C]` observation (row-major, channel
    /// last) in `obs`, which holds zeros.
    fn write_state(&self, obs: &mut [f32]);

    /// Checks a restored state ([`Env::load_state`](crate::Env::load_state)): every position
    /// on the grid, so that stepping and [`Game::write_state`] cannot index out of bounds.
    fn validate(&self) -> Result<(), String>;
}

/// Sets cell `(y, x)` of channel `c` in a `[10, 10, channels]` observation. Coordinates are
/// in range by the games' invariants; a bug would panic on the slice bound.
#[inline]
pub(super) fn set(obs: &mut [f32], channels: usize, y: usize, x: usize, c: usize) {
    obs[(y * 10 + x) * channels + c] = 1.0;
}

/// Sets channel `c` at every set bit of ten 10-bit row masks (bit `x` of `rows[y]` is cell
/// `(y, x)`), as assigning a 10×10 NumPy map to a channel does.
#[inline]
pub(super) fn set_rows(obs: &mut [f32], channels: usize, rows: &[u16; 10], c: usize) {
    for (y, &row) in rows.iter().enumerate() {
        let mut bits = row;
        while bits != 0 {
            let x = bits.trailing_zeros() as usize;
            set(obs, channels, y, x, c);
            bits &= bits - 1;
        }
    }
}
