//! Seaquest, as `minatar/environments/seaquest.py` (minatar 1.0.15).
//!
//! A two-cell submarine shoots fish and enemy subs (+1 each), picks up divers (up to six)
//! and must surface (row 0) before its 200 frames of oxygen run out; surfacing with no diver
//! ends the episode, with six gives a bonus of `oxygen * 10 // 200`. Every surfacing with a
//! diver ramps the difficulty (enemy spawn interval, then every other time their move
//! interval). Channels: sub front, sub back, friendly bullet, trail, enemy bullet, fish,
//! enemy sub, oxygen gauge, diver gauge, diver.
//!
//! The entity lists are updated with Python's list semantics ([`super::py_list`]). Quirk kept:
//! surfacing with six divers leaves `diver_count` at −1 (the package sets it to 0, then
//! subtracts the one diver every surfacing costs), so the next surfacing without a pickup
//! does not end the episode and counts down to −2, and so on.

use serde::{Deserialize, Serialize};

use super::game::{set, Game, Move};
use super::RandomState;
use entities::{off_grid, Bullet, Mover, Sub};

mod entities;

const MAX_OXYGEN: i32 = 200;
const INIT_SPAWN_SPEED: i32 = 20;
const DIVER_SPAWN_SPEED: i32 = 30;
const INIT_MOVE_INTERVAL: i32 = 5;
const SHOT_COOL_DOWN: i32 = 5;
const ENEMY_SHOT_INTERVAL: i32 = 10;
const DIVER_MOVE_INTERVAL: i32 = 5;
/// Room reserved in each entity list so that stepping does not allocate.
const LIST_CAPACITY: usize = 64;

const SUB_FRONT: usize = 0;
const SUB_BACK: usize = 1;
const FRIENDLY_BULLET: usize = 2;
const TRAIL: usize = 3;
const ENEMY_BULLET: usize = 4;
const ENEMY_FISH: usize = 5;
const ENEMY_SUB: usize = 6;
const OXYGEN_GAUGE: usize = 7;
const DIVER_GAUGE: usize = 8;
const DIVER: usize = 9;

/// The state of a Seaquest game (`seaquest.py`'s `Env`). List order is the package's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seaquest {
    ramping: bool,
    oxygen: i32,
    diver_count: i32,
    sub_x: i32,
    sub_y: i32,
    /// Facing right.
    sub_or: bool,
    f_bullets: Vec<Bullet>,
    e_bullets: Vec<Bullet>,
    e_fish: Vec<Mover>,
    e_subs: Vec<Sub>,
    divers: Vec<Mover>,
    e_spawn_speed: i32,
    e_spawn_timer: i32,
    d_spawn_timer: i32,
    move_speed: i32,
    ramp_index: i32,
    shot_timer: i32,
    surface: bool,
    terminal: bool,
}

impl Seaquest {
    fn at_sub(&self, x: i32, y: i32) -> bool {
        x == self.sub_x && y == self.sub_y
    }

    /// `_spawn_enemy`: `rand()` side, `rand()` kind, `randint(1, 9)` row; nothing spawns in
    /// a row holding an enemy moving the other way.
    fn spawn_enemy(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let is_sub = rng.rand() < 1.0 / 3.0;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        let clash = |ey: i32, er: bool| ey == y && er != right;
        if self.e_subs.iter().any(|z| clash(z.y, z.right))
            || self.e_fish.iter().any(|z| clash(z.y, z.right))
        {
            return;
        }
        let timer = self.move_speed;
        if is_sub {
            let shot_timer = ENEMY_SHOT_INTERVAL;
            self.e_subs.push(Sub {
                x,
                y,
                right,
                timer,
                shot_timer,
            });
        } else {
            self.e_fish.push(Mover { x, y, right, timer });
        }
    }

    /// `_spawn_diver`: `rand()` side, `randint(1, 9)` row.
    fn spawn_diver(&mut self, rng: &mut RandomState) {
        let right = rng.rand() < 0.5;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        let timer = DIVER_MOVE_INTERVAL;
        self.divers.push(Mover { x, y, right, timer });
    }

    /// `_surface`: refills oxygen, costs a diver, pays the bonus with six, ramps.
    fn surface(&mut self) -> u32 {
        self.surface = true;
        let r = if self.diver_count == 6 {
            self.diver_count = 0;
            (self.oxygen * 10).div_euclid(MAX_OXYGEN)
        } else {
            0
        };
        self.oxygen = MAX_OXYGEN;
        self.diver_count -= 1;
        if self.ramping && (self.e_spawn_speed > 1 || self.move_speed > 2) {
            if self.move_speed > 2 && self.ramp_index % 2 == 1 {
                self.move_speed -= 1;
            }
            if self.e_spawn_speed > 1 {
                self.e_spawn_speed -= 1;
            }
            self.ramp_index += 1;
        }
        r.max(0) as u32
    }
}

impl Game for Seaquest {
    const NAME: &'static str = "Seaquest";
    const CHANNELS: usize = 10;
    const MINIMAL_ACTIONS: &'static [u8] = &[0, 1, 2, 3, 4, 5];

    fn new(ramping: bool) -> Self {
        Self {
            ramping,
            oxygen: MAX_OXYGEN,
            diver_count: 0,
            sub_x: 5,
            sub_y: 0,
            sub_or: false,
            f_bullets: Vec::with_capacity(LIST_CAPACITY),
            e_bullets: Vec::with_capacity(LIST_CAPACITY),
            e_fish: Vec::with_capacity(LIST_CAPACITY),
            e_subs: Vec::with_capacity(LIST_CAPACITY),
            divers: Vec::with_capacity(LIST_CAPACITY),
            e_spawn_speed: INIT_SPAWN_SPEED,
            e_spawn_timer: INIT_SPAWN_SPEED,
            d_spawn_timer: DIVER_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            surface: true,
            terminal: false,
        }
    }

    /// `reset()`; the lists are emptied in place, keeping their room.
    fn reset(&mut self, _rng: &mut RandomState) {
        self.oxygen = MAX_OXYGEN;
        self.diver_count = 0;
        self.sub_x = 5;
        self.sub_y = 0;
        self.sub_or = false;
        self.f_bullets.clear();
        self.e_bullets.clear();
        self.e_fish.clear();
        self.e_subs.clear();
        self.divers.clear();
        self.e_spawn_speed = INIT_SPAWN_SPEED;
        self.e_spawn_timer = INIT_SPAWN_SPEED;
        self.d_spawn_timer = DIVER_SPAWN_SPEED;
        self.move_speed = INIT_MOVE_INTERVAL;
        self.ramp_index = 0;
        self.shot_timer = 0;
        self.surface = true;
        self.terminal = false;
    }

    fn difficulty_ramp(&self) -> Option<i32> {
        Some(self.ramp_index)
    }

    fn terminal(&self) -> bool {
        self.terminal
    }

    fn act(&mut self, action: Move, rng: &mut RandomState) -> u32 {
        let mut r = 0;
        if self.e_spawn_timer == 0 {
            self.spawn_enemy(rng);
            self.e_spawn_timer = self.e_spawn_speed;
        }
        if self.d_spawn_timer == 0 {
            self.spawn_diver(rng);
            self.d_spawn_timer = DIVER_SPAWN_SPEED;
        }
        match action {
            Move::Fire if self.shot_timer == 0 => {
                self.f_bullets.push(Bullet {
                    x: self.sub_x,
                    y: self.sub_y,
                    right: self.sub_or,
                });
                self.shot_timer = SHOT_COOL_DOWN;
            }
            Move::Left => {
                self.sub_x = (self.sub_x - 1).max(0);
                self.sub_or = false;
            }
            Move::Right => {
                self.sub_x = (self.sub_x + 1).min(9);
                self.sub_or = true;
            }
            Move::Up => self.sub_y = (self.sub_y - 1).max(0),
            Move::Down => self.sub_y = (self.sub_y + 1).min(8),
            Move::Fire | Move::Noop => {}
        }
        r += self.update_friendly_bullets();
        self.update_divers();
        r += self.update_enemy_subs();
        self.update_enemy_bullets();
        r += self.update_fish();

        for timer in [
            &mut self.e_spawn_timer,
            &mut self.d_spawn_timer,
            &mut self.shot_timer,
        ] {
            if *timer > 0 {
                *timer -= 1;
            }
        }
        if self.oxygen <= 0 {
            self.terminal = true;
        }
        if self.sub_y > 0 {
            self.oxygen -= 1;
            self.surface = false;
        } else if !self.surface {
            if self.diver_count == 0 {
                self.terminal = true;
            } else {
                r += self.surface();
            }
        }
        r
    }

    fn write_state(&self, obs: &mut [f32]) {
        let c = Self::CHANNELS;
        let (sy, sx) = (self.sub_y as usize, self.sub_x as usize);
        set(obs, c, sy, sx, SUB_FRONT);
        // NumPy reads column -1 as 9 (unreachable: facing right implies x >= 1).
        let back_x = (if self.sub_or { sx + 9 } else { sx + 1 }) % 10;
        set(obs, c, sy, back_x, SUB_BACK);
        for x in 0..(self.oxygen.max(0) * 10 / MAX_OXYGEN) as usize {
            set(obs, c, 9, x, OXYGEN_GAUGE);
        }
        for x in (9 - self.diver_count.clamp(0, 9)) as usize..9 {
            set(obs, c, 9, x, DIVER_GAUGE);
        }
        for b in &self.f_bullets {
            set(obs, c, b.y as usize, b.x as usize, FRIENDLY_BULLET);
        }
        for b in &self.e_bullets {
            set(obs, c, b.y as usize, b.x as usize, ENEMY_BULLET);
        }
        let movers = self.e_fish.iter().map(|f| (f.x, f.y, f.right, ENEMY_FISH));
        let subs = self.e_subs.iter().map(|s| (s.x, s.y, s.right, ENEMY_SUB));
        let divers = self.divers.iter().map(|d| (d.x, d.y, d.right, DIVER));
        for (x, y, right, channel) in movers.chain(subs).chain(divers) {
            set(obs, c, y as usize, x as usize, channel);
            let back_x = if right { x - 1 } else { x + 1 };
            if !off_grid(back_x) {
                set(obs, c, y as usize, back_x as usize, TRAIL);
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        let cell = |x: i32, y: i32| !off_grid(x) && (0..=9).contains(&y);
        let sub_ok = cell(self.sub_x, self.sub_y)
            && self.sub_y <= 8
            && !off_grid(if self.sub_or {
                self.sub_x - 1
            } else {
                self.sub_x + 1
            });
        let ok = sub_ok
            && self.oxygen <= MAX_OXYGEN
            && self.diver_count <= 6
            && self.f_bullets.iter().all(|b| cell(b.x, b.y))
            && self.e_bullets.iter().all(|b| cell(b.x, b.y))
            && self.e_fish.iter().all(|f| cell(f.x, f.y))
            && self.e_subs.iter().all(|s| cell(s.x, s.y))
            && self.divers.iter().all(|d| cell(d.x, d.y));
        if ok {
            Ok(())
        } else {
            Err("a position or gauge is off the grid".to_string())
        }
    }
}
