//! SpaceInvaders, as `minatar/environments/space_invaders.py` (minatar 1.0.15).
//!
//! A cannon on the bottom row shoots up (at most once every five frames) at a 4×6 block of
//! aliens that marches sideways, stepping down a row at each wall, and shoots back from the
//! alien nearest the cannon every ten frames. +1 per alien hit; the episode ends when an alien
//! or an alien bullet reaches the cannon, or when the block steps down with an alien on the
//! bottom row. A cleared wave is replaced by a new one, one frame faster with ramping (down
//! to an interval of 6). Channels: cannon, alien, alien moving left, alien moving right,
//! friendly bullet, enemy bullet. The game draws no random numbers.

use serde::{Deserialize, Serialize};

use super::game::{set, set_rows, Game, Move};
use super::RandomState;

const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_MOVE_INTERVAL: i32 = 12;
const ENEMY_SHOT_INTERVAL: i32 = 10;

const CANNON: usize = 0;
const ALIEN: usize = 1;
const ALIEN_LEFT: usize = 2;
const ALIEN_RIGHT: usize = 3;
const FRIENDLY_BULLET: usize = 4;
const ENEMY_BULLET: usize = 5;

/// Columns 2..8 of a row.
const WAVE_ROW: u16 = 0b00_1111_1100;
const ROW_BITS: u16 = 0x3ff;

/// The state of a SpaceInvaders game (`space_invaders.py`'s `Env`). The three 10×10 maps
/// are rows of bits (bit x of row y is cell (y, x)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceInvaders {
    ramping: bool,
    pos: i32,
    f_bullets: [u16; 10],
    e_bullets: [u16; 10],
    aliens: [u16; 10],
    /// -1 (left) or +1 (right).
    alien_dir: i32,
    enemy_move_interval: i32,
    alien_move_timer: i32,
    alien_shot_timer: i32,
    ramp_index: i32,
    shot_timer: i32,
    terminal: bool,
}

/// `np.roll(row, shift)` of a 10-cell row, shift ±1.
fn roll_row(row: u16, shift: i32) -> u16 {
    if shift > 0 {
        ((row << 1) | (row >> 9)) & ROW_BITS
    } else {
        (row >> 1) | ((row & 1) << 9)
    }
}

fn alien_wave() -> [u16; 10] {
    let mut aliens = [0; 10];
    aliens[0..4].fill(WAVE_ROW);
    aliens
}

impl SpaceInvaders {
    fn alien_at(&self, y: usize, x: i32) -> bool {
        self.aliens[y] & (1 << x) != 0
    }

    /// Bit x set if column x holds an alien.
    fn alien_columns(&self) -> u16 {
        self.aliens.iter().fold(0, |acc, &row| acc | row)
    }

    fn alien_count(&self) -> i32 {
        self.aliens.iter().map(|r| r.count_ones() as i32).sum()
    }

    /// `_nearest_alien(pos)`: columns by distance from `pos` (a stable sort, so the left one
    /// of two at the same distance first), the lowest alien of the first non-empty column.
    fn nearest_alien(&self) -> Option<(usize, i32)> {
        let columns = self.alien_columns();
        for d in 0..10 {
            for x in [self.pos - d, self.pos + d] {
                if (0..=9).contains(&x) && columns & (1 << x) != 0 {
                    let y = (0..10).rev().find(|&y| self.alien_at(y, x))?;
                    return Some((y, x));
                }
                if d == 0 {
                    break;
                }
            }
        }
        None
    }

    fn move_aliens(&mut self) {
        self.alien_move_timer = self.alien_count().min(self.enemy_move_interval);
        let columns = self.alien_columns();
        let at_wall = (columns & 1 != 0 && self.alien_dir < 0)
            || (columns & (1 << 9) != 0 && self.alien_dir > 0);
        if at_wall {
            self.alien_dir = -self.alien_dir;
            if self.aliens[9] != 0 {
                self.terminal = true;
            }
            // np.roll(alien_map, 1, axis=0): the bottom row wraps round to the top.
            self.aliens.rotate_right(1);
        } else {
            for row in &mut self.aliens {
                *row = roll_row(*row, self.alien_dir);
            }
        }
        if self.alien_at(9, self.pos) {
            self.terminal = true;
        }
    }
}

impl Game for SpaceInvaders {
    const NAME: &'static str = "SpaceInvaders";
    const CHANNELS: usize = 6;
    const MINIMAL_ACTIONS: &'static [u8] = &[0, 1, 3, 5];

    fn new(ramping: bool) -> Self {
        Self {
            ramping,
            pos: 5,
            f_bullets: [0; 10],
            e_bullets: [0; 10],
            aliens: alien_wave(),
            alien_dir: -1,
            enemy_move_interval: ENEMY_MOVE_INTERVAL,
            alien_move_timer: ENEMY_MOVE_INTERVAL,
            alien_shot_timer: ENEMY_SHOT_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
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

    fn act(&mut self, action: Move, _rng: &mut RandomState) -> u32 {
        let pos_bit = 1u16 << self.pos;
        if action == Move::Fire && self.shot_timer == 0 {
            self.f_bullets[9] |= pos_bit;
            self.shot_timer = SHOT_COOL_DOWN;
        } else if action == Move::Left {
            self.pos = (self.pos - 1).max(0);
        } else if action == Move::Right {
            self.pos = (self.pos + 1).min(9);
        }
        // Friendly bullets move up (np.roll by -1, then row 9 cleared: the top row leaves).
        self.f_bullets.rotate_left(1);
        self.f_bullets[9] = 0;
        // Enemy bullets move down (np.roll by +1, then row 0 cleared).
        self.e_bullets.rotate_right(1);
        self.e_bullets[0] = 0;
        let pos_bit = 1u16 << self.pos;
        if self.e_bullets[9] & pos_bit != 0 {
            self.terminal = true;
        }
        if self.aliens[9] & pos_bit != 0 {
            self.terminal = true;
        }
        if self.alien_move_timer == 0 {
            self.move_aliens();
        }
        if self.alien_shot_timer == 0 {
            self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
            // The map always holds an alien here (a cleared wave is refilled at the end of
            // the previous act), so the package's `None` case cannot happen.
            if let Some((y, x)) = self.nearest_alien() {
                self.e_bullets[y] |= 1 << x;
            }
        }
        let mut r = 0;
        for (aliens, bullets) in self.aliens.iter_mut().zip(&mut self.f_bullets) {
            let kills = *aliens & *bullets;
            r += kills.count_ones();
            *aliens &= !kills;
            *bullets &= !kills;
        }
        if self.shot_timer > 0 {
            self.shot_timer -= 1;
        }
        self.alien_move_timer -= 1;
        self.alien_shot_timer -= 1;
        if self.aliens.iter().all(|&row| row == 0) {
            if self.enemy_move_interval > 6 && self.ramping {
                self.enemy_move_interval -= 1;
                self.ramp_index += 1;
            }
            self.aliens[0..4].fill(WAVE_ROW);
        }
        r
    }

    fn write_state(&self, obs: &mut [f32]) {
        let c = Self::CHANNELS;
        set(obs, c, 9, self.pos as usize, CANNON);
        set_rows(obs, c, &self.aliens, ALIEN);
        let dir = if self.alien_dir < 0 {
            ALIEN_LEFT
        } else {
            ALIEN_RIGHT
        };
        set_rows(obs, c, &self.aliens, dir);
        set_rows(obs, c, &self.f_bullets, FRIENDLY_BULLET);
        set_rows(obs, c, &self.e_bullets, ENEMY_BULLET);
    }

    fn validate(&self) -> Result<(), String> {
        let maps = [&self.aliens, &self.f_bullets, &self.e_bullets];
        let ok = (0..=9).contains(&self.pos)
            && maps.iter().all(|m| m.iter().all(|&row| row <= ROW_BITS))
            && self.alien_dir.abs() == 1;
        if ok {
            Ok(())
        } else {
            Err("a position or map is off the grid".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // from minatar.environments.space_invaders import Env  # minatar 1.0.15
    // e = Env(); e.reset(); e.alien_map[:] = 0; e.alien_map[9, 0] = e.alien_map[8, 1] = 1
    // e.alien_dir = -1; e.alien_move_timer = 0; e.pos = 7
    // e.act(0) -> (0, True); aliens at (0, 0) and (9, 1); alien_dir 1; alien_move_timer 1
    #[test]
    fn stepping_down_from_the_bottom_row_ends_the_game_and_wraps_that_row_to_the_top() {
        let mut game = SpaceInvaders::new(true);
        game.aliens = [0; 10];
        game.aliens[9] = 1;
        game.aliens[8] = 1 << 1;
        game.alien_move_timer = 0;
        game.pos = 7;
        let r = game.act(Move::Noop, &mut RandomState::from_seed(0));
        assert_eq!((r, game.terminal), (0, true));
        let mut expected = [0; 10];
        expected[0] = 1;
        expected[9] = 1 << 1;
        assert_eq!(game.aliens, expected);
        assert_eq!((game.alien_dir, game.alien_move_timer), (1, 1));
    }
}
