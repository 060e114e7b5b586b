//! Asterix, as `minatar/environments/asterix.py` (minatar 1.0.15).
//!
//! The player moves in the four directions on rows 1–8; enemies and gold spawn at either side
//! of a free row (row = slot + 1 of eight slots) and move horizontally. Gold gives +1, an enemy
//! ends the episode. Channels: player, enemy, trail, gold. With ramping, every 102 frames the
//! spawn interval drops by one and, on odd ramp indices, the move interval.

use serde::{Deserialize, Serialize};

use super::game::{set, Game, Move};
use super::RandomState;

const RAMP_INTERVAL: i32 = 100;
const INIT_SPAWN_SPEED: i32 = 10;
const INIT_MOVE_INTERVAL: i32 = 5;

const PLAYER: usize = 0;
const ENEMY: usize = 1;
const TRAIL: usize = 2;
const GOLD: usize = 3;

/// An enemy or gold in its slot: `[x, slot + 1, lr, is_gold]` in the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entity {
    x: i32,
    /// Moving right (spawned at x = 0).
    lr: bool,
    gold: bool,
}

/// The state of an Asterix game (`asterix.py`'s `Env`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asterix {
    ramping: bool,
    player_x: i32,
    player_y: i32,
    entities: [Option<Entity>; 8],
    spawn_speed: i32,
    spawn_timer: i32,
    move_speed: i32,
    move_timer: i32,
    ramp_timer: i32,
    ramp_index: i32,
    terminal: bool,
}

impl Asterix {
    /// `_spawn_entity`: two `rand()` draws (side, gold), then — only if a slot is free —
    /// `randint(free slots)`, which draws nothing when one slot is free.
    fn spawn_entity(&mut self, rng: &mut RandomState) {
        let lr = rng.rand() < 0.5;
        let gold = rng.rand() < 1.0 / 3.0;
        let mut free = [0usize; 8];
        let mut n = 0;
        for (i, slot) in self.entities.iter().enumerate() {
            if slot.is_none() {
                free[n] = i;
                n += 1;
            }
        }
        if n == 0 {
            return;
        }
        let slot = free[rng.randint(0, n as i64) as usize];
        let x = if lr { 0 } else { 9 };
        self.entities[slot] = Some(Entity { x, lr, gold });
    }

    /// An entity in `slot` at the player's cell: gold is picked up (+1), an enemy ends the game.
    fn collide(&mut self, slot: usize, reward: &mut u32) {
        if let Some(e) = self.entities[slot] {
            if e.x == self.player_x && slot as i32 + 1 == self.player_y {
                if e.gold {
                    self.entities[slot] = None;
                    *reward += 1;
                } else {
                    self.terminal = true;
                }
            }
        }
    }

    fn ramp(&mut self) {
        if !(self.ramping && (self.spawn_speed > 1 || self.move_speed > 1)) {
            return;
        }
        if self.ramp_timer >= 0 {
            self.ramp_timer -= 1;
        } else {
            if self.move_speed > 1 && self.ramp_index % 2 == 1 {
                self.move_speed -= 1;
            }
            if self.spawn_speed > 1 {
                self.spawn_speed -= 1;
            }
            self.ramp_index += 1;
            self.ramp_timer = RAMP_INTERVAL;
        }
    }
}

impl Game for Asterix {
    const NAME: &'static str = "Asterix";
    const CHANNELS: usize = 4;
    const MINIMAL_ACTIONS: &'static [u8] = &[0, 1, 2, 3, 4];

    fn new(ramping: bool) -> Self {
        Self {
            ramping,
            player_x: 5,
            player_y: 5,
            entities: [None; 8],
            spawn_speed: INIT_SPAWN_SPEED,
            spawn_timer: INIT_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            move_timer: INIT_MOVE_INTERVAL,
            ramp_timer: RAMP_INTERVAL,
            ramp_index: 0,
            terminal: false,
        }
    }

    fn reset(&mut self, _rng: &mut RandomState) {
        *self = Self::new(self.ramping);
    }

    fn difficulty_ramp(&self) -> Option<i32> {
        Some(self.ramp_index)
    }

    fn terminal(&self) -> bool {
        self.terminal
    }

    fn act(&mut self, action: Move, rng: &mut RandomState) -> u32 {
        let mut r = 0;
        if self.spawn_timer == 0 {
            self.spawn_entity(rng);
            self.spawn_timer = self.spawn_speed;
        }
        match action {
            Move::Left => self.player_x = (self.player_x - 1).max(0),
            Move::Right => self.player_x = (self.player_x + 1).min(9),
            Move::Up => self.player_y = (self.player_y - 1).max(1),
            Move::Down => self.player_y = (self.player_y + 1).min(8),
            Move::Noop | Move::Fire => {}
        }
        for slot in 0..8 {
            self.collide(slot, &mut r);
        }
        if self.move_timer == 0 {
            self.move_timer = self.move_speed;
            for slot in 0..8 {
                if let Some(e) = &mut self.entities[slot] {
                    e.x += if e.lr { 1 } else { -1 };
                    if e.x < 0 || e.x > 9 {
                        // The package then compares the old list with the player, which an
                        // x of -1 or 10 never equals.
                        self.entities[slot] = None;
                    } else {
                        self.collide(slot, &mut r);
                    }
                }
            }
        }
        self.spawn_timer -= 1;
        self.move_timer -= 1;
        self.ramp();
        r
    }

    fn write_state(&self, obs: &mut [f32]) {
        let c = Self::CHANNELS;
        set(
            obs,
            c,
            self.player_y as usize,
            self.player_x as usize,
            PLAYER,
        );
        for (slot, e) in self.entities.iter().enumerate() {
            if let Some(e) = e {
                let y = slot + 1;
                set(obs, c, y, e.x as usize, if e.gold { GOLD } else { ENEMY });
                let back_x = if e.lr { e.x - 1 } else { e.x + 1 };
                if (0..=9).contains(&back_x) {
                    set(obs, c, y, back_x as usize, TRAIL);
                }
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        let in_grid = (0..=9).contains(&self.player_x) && (1..=8).contains(&self.player_y);
        let entities = self
            .entities
            .iter()
            .flatten()
            .all(|e| (0..=9).contains(&e.x));
        if in_grid && entities {
            Ok(())
        } else {
            Err("a position is off the grid".to_string())
        }
    }
}
