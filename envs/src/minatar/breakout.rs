//! Breakout, as `minatar/environments/breakout.py` (minatar 1.0.15).
//!
//! A paddle on the bottom row, a ball moving on diagonals, three rows of bricks (rows 1–3)
//! that come back when all are broken and the ball reaches the bottom row. +1 per brick; the
//! episode ends when the ball passes the paddle. Channels: paddle, ball, trail, brick.
//! There is no difficulty ramping (the package ignores `difficulty_ramping`).

use serde::{Deserialize, Serialize};

use super::game::{set, set_rows, Game, Move};
use super::RandomState;

const PADDLE: usize = 0;
const BALL: usize = 1;
const TRAIL: usize = 2;
const BRICK: usize = 3;

/// Bits 0..10: a full row of bricks.
const FULL_ROW: u16 = 0x3ff;

/// The state of a Breakout game (`breakout.py`'s `Env`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakout {
    ball_x: i32,
    ball_y: i32,
    /// 0: up-left, 1: up-right, 2: down-right, 3: down-left.
    ball_dir: u8,
    pos: i32,
    /// `brick_map`: bit x of row y is a brick at (y, x).
    bricks: [u16; 10],
    strike: bool,
    last_x: i32,
    last_y: i32,
    terminal: bool,
}

impl Breakout {
    fn has_brick(&self, y: i32, x: i32) -> bool {
        self.bricks[y as usize] & (1 << x) != 0
    }
}

impl Game for Breakout {
    const NAME: &'static str = "Breakout";
    const CHANNELS: usize = 4;
    const MINIMAL_ACTIONS: &'static [u8] = &[0, 1, 3];

    fn new(_ramping: bool) -> Self {
        let mut bricks = [0; 10];
        bricks[1..4].fill(FULL_ROW);
        Self {
            ball_x: 0,
            ball_y: 3,
            ball_dir: 2,
            pos: 4,
            bricks,
            strike: false,
            last_x: 0,
            last_y: 3,
            terminal: false,
        }
    }

    /// `reset()`: one `randint(2)` picks the ball's start, `(0, down-right)` or
    /// `(9, down-left)`, on row 3.
    fn reset(&mut self, rng: &mut RandomState) {
        *self = Self::new(false);
        let (x, dir) = [(0, 2), (9, 3)][rng.randint(0, 2) as usize];
        self.ball_x = x;
        self.ball_dir = dir;
        self.last_x = x;
    }

    fn difficulty_ramp(&self) -> Option<i32> {
        None
    }

    fn terminal(&self) -> bool {
        self.terminal
    }

    fn act(&mut self, action: Move, _rng: &mut RandomState) -> u32 {
        let mut r = 0;
        match action {
            Move::Left => self.pos = (self.pos - 1).max(0),
            Move::Right => self.pos = (self.pos + 1).min(9),
            _ => {}
        }
        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        let (dx, dy) = [(-1, -1), (1, -1), (1, 1), (-1, 1)][usize::from(self.ball_dir)];
        let (mut new_x, mut new_y) = (self.ball_x + dx, self.ball_y + dy);

        let mut strike_toggle = false;
        if !(0..=9).contains(&new_x) {
            new_x = new_x.clamp(0, 9);
            self.ball_dir = [1, 0, 3, 2][usize::from(self.ball_dir)];
        }
        if new_y < 0 {
            new_y = 0;
            self.ball_dir = [3, 2, 1, 0][usize::from(self.ball_dir)];
        } else if self.has_brick(new_y, new_x) {
            strike_toggle = true;
            // Quirk: a brick hit right after another (strike still set) is neither broken
            // nor bounced off; the ball moves into its cell.
            if !self.strike {
                r += 1;
                self.strike = true;
                self.bricks[new_y as usize] &= !(1 << new_x);
                new_y = self.last_y;
                self.ball_dir = [3, 2, 1, 0][usize::from(self.ball_dir)];
            }
        } else if new_y == 9 {
            if self.bricks.iter().all(|&row| row == 0) {
                self.bricks[1..4].fill(FULL_ROW);
            }
            if self.ball_x == self.pos {
                self.ball_dir = [3, 2, 1, 0][usize::from(self.ball_dir)];
                new_y = self.last_y;
            } else if new_x == self.pos {
                self.ball_dir = [2, 3, 0, 1][usize::from(self.ball_dir)];
                new_y = self.last_y;
            } else {
                self.terminal = true;
            }
        }
        if !strike_toggle {
            self.strike = false;
        }
        self.ball_x = new_x;
        self.ball_y = new_y;
        r
    }

    fn write_state(&self, obs: &mut [f32]) {
        let c = Self::CHANNELS;
        set(obs, c, self.ball_y as usize, self.ball_x as usize, BALL);
        set(obs, c, 9, self.pos as usize, PADDLE);
        set(obs, c, self.last_y as usize, self.last_x as usize, TRAIL);
        set_rows(obs, c, &self.bricks, BRICK);
    }

    fn validate(&self) -> Result<(), String> {
        let on = |v: i32| (0..=9).contains(&v);
        let ok = [self.ball_x, self.ball_y, self.pos, self.last_x, self.last_y]
            .into_iter()
            .all(on)
            && self.ball_dir < 4
            && self.bricks.iter().all(|&row| row <= FULL_ROW);
        if ok {
            Ok(())
        } else {
            Err("a position or the ball direction is off the grid".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // from minatar.environments.breakout import Env  # minatar 1.0.15
    // e = Env(); e.reset(); e.brick_map[:] = 0
    // e.brick_map[1, 5] = e.brick_map[2, 5] = e.brick_map[3, 6] = 1
    // e.ball_x, e.ball_y, e.ball_dir = 4, 2, 1; e.last_x, e.last_y = 3, 3
    // e.strike = False; e.pos = 4
    // for a in [0, 0, 0]: print(e.act(a), e.ball_x, e.ball_y, e.ball_dir, e.strike)
    // -> (1, False) 5 2 2 True    breaks (5, 1), lands on the brick at (5, 2)
    //    (0, False) 6 3 2 True    enters the brick at (6, 3) without breaking it
    //    (0, False) 7 4 2 False
    // bricks left: (2, 5), (3, 6)
    #[test]
    fn a_brick_hit_right_after_another_lets_the_ball_into_the_brick() {
        let mut game = Breakout::new(false);
        game.bricks = [0; 10];
        game.bricks[1] = 1 << 5;
        game.bricks[2] = 1 << 5;
        game.bricks[3] = 1 << 6;
        (game.ball_x, game.ball_y, game.ball_dir) = (4, 2, 1);
        (game.last_x, game.last_y) = (3, 3);
        let mut rng = RandomState::from_seed(0);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let r = game.act(Move::Noop, &mut rng);
            let g = &game;
            seen.push((r, g.terminal, g.ball_x, g.ball_y, g.ball_dir, g.strike));
        }
        assert_eq!(
            seen,
            [
                (1, false, 5, 2, 2, true),
                (0, false, 6, 3, 2, true),
                (0, false, 7, 4, 2, false),
            ]
        );
        let mut expected = [0; 10];
        expected[2] = 1 << 5;
        expected[3] = 1 << 6;
        assert_eq!(game.bricks, expected);
    }
}
