//! Seaquest's entities and the five passes of `act` that move them (`seaquest.py`'s loops
//! over friendly bullets, divers, enemy subs, enemy bullets and fish, in that order), with
//! Python's list semantics (`minatar/py_list.rs`).

use serde::{Deserialize, Serialize};

use super::super::py_list::{remove_current, remove_first_equal, Reversed};
use super::{Seaquest, DIVER_MOVE_INTERVAL, ENEMY_SHOT_INTERVAL};

/// A bullet, `[x, y, right]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Bullet {
    pub(super) x: i32,
    pub(super) y: i32,
    pub(super) right: bool,
}

/// A fish or diver, `[x, y, right, move_timer]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Mover {
    pub(super) x: i32,
    pub(super) y: i32,
    pub(super) right: bool,
    pub(super) timer: i32,
}

/// An enemy sub, `[x, y, right, move_timer, shot_timer]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Sub {
    pub(super) x: i32,
    pub(super) y: i32,
    pub(super) right: bool,
    pub(super) timer: i32,
    pub(super) shot_timer: i32,
}

pub(super) fn step_x(x: i32, right: bool) -> i32 {
    if right {
        x + 1
    } else {
        x - 1
    }
}

pub(super) fn off_grid(x: i32) -> bool {
    !(0..=9).contains(&x)
}

impl Seaquest {
    pub(super) fn update_friendly_bullets(&mut self) -> u32 {
        let mut r = 0;
        let mut it = Reversed::new(self.f_bullets.len());
        while let Some(i) = it.next(self.f_bullets.len()) {
            let b = &mut self.f_bullets[i];
            b.x = step_x(b.x, b.right);
            let b = *b;
            if off_grid(b.x) {
                remove_first_equal(&mut self.f_bullets, &b);
            } else if let Some(fish) = self.e_fish.iter().find(|f| (f.x, f.y) == (b.x, b.y)) {
                let fish = *fish;
                remove_first_equal(&mut self.e_fish, &fish);
                remove_first_equal(&mut self.f_bullets, &b);
                r += 1;
            } else if let Some(sub) = self.e_subs.iter().find(|s| (s.x, s.y) == (b.x, b.y)) {
                let sub = *sub;
                remove_first_equal(&mut self.e_subs, &sub);
                remove_first_equal(&mut self.f_bullets, &b);
                r += 1;
            }
        }
        r
    }

    /// Removes the first friendly bullet on `(x, y)`, if any (`for x in self.f_bullets`).
    fn friendly_bullet_at(&mut self, x: i32, y: i32) -> Option<Bullet> {
        let b = *self.f_bullets.iter().find(|b| (b.x, b.y) == (x, y))?;
        remove_first_equal(&mut self.f_bullets, &b);
        Some(b)
    }

    pub(super) fn update_divers(&mut self) {
        let mut it = Reversed::new(self.divers.len());
        while let Some(i) = it.next(self.divers.len()) {
            let mut d = self.divers[i];
            if self.at_sub(d.x, d.y) && self.diver_count < 6 {
                remove_first_equal(&mut self.divers, &d);
                self.diver_count += 1;
            } else if d.timer == 0 {
                d.timer = DIVER_MOVE_INTERVAL;
                d.x = step_x(d.x, d.right);
                self.divers[i] = d;
                if off_grid(d.x) {
                    remove_first_equal(&mut self.divers, &d);
                } else if self.at_sub(d.x, d.y) && self.diver_count < 6 {
                    remove_first_equal(&mut self.divers, &d);
                    self.diver_count += 1;
                }
            } else {
                self.divers[i].timer -= 1;
            }
        }
    }

    pub(super) fn update_enemy_subs(&mut self) -> u32 {
        let mut r = 0;
        let mut it = Reversed::new(self.e_subs.len());
        while let Some(i) = it.next(self.e_subs.len()) {
            // Where this sub is in the list; it stays readable after removal (the package
            // keeps using the removed list object: a sub that leaves or is shot still fires).
            let mut at = Some(i);
            let mut s = self.e_subs[i];
            if self.at_sub(s.x, s.y) {
                self.terminal = true;
            }
            if s.timer == 0 {
                s.timer = self.move_speed;
                s.x = step_x(s.x, s.right);
                self.e_subs[i] = s;
                if off_grid(s.x) {
                    at = remove_current(&mut self.e_subs, i, &s);
                } else if self.at_sub(s.x, s.y) {
                    self.terminal = true;
                } else if self.friendly_bullet_at(s.x, s.y).is_some() {
                    at = remove_current(&mut self.e_subs, i, &s);
                    r += 1;
                }
            } else {
                s.timer -= 1;
            }
            if s.shot_timer == 0 {
                s.shot_timer = ENEMY_SHOT_INTERVAL;
                self.e_bullets.push(Bullet {
                    x: s.x,
                    y: s.y,
                    right: s.right,
                });
            } else {
                s.shot_timer -= 1;
            }
            if let Some(k) = at {
                self.e_subs[k] = s;
            }
        }
        r
    }

    pub(super) fn update_enemy_bullets(&mut self) {
        let mut it = Reversed::new(self.e_bullets.len());
        while let Some(i) = it.next(self.e_bullets.len()) {
            let mut b = self.e_bullets[i];
            if self.at_sub(b.x, b.y) {
                self.terminal = true;
            }
            b.x = step_x(b.x, b.right);
            self.e_bullets[i] = b;
            if off_grid(b.x) {
                remove_first_equal(&mut self.e_bullets, &b);
            } else if self.at_sub(b.x, b.y) {
                self.terminal = true;
            }
        }
    }

    pub(super) fn update_fish(&mut self) -> u32 {
        let mut r = 0;
        let mut it = Reversed::new(self.e_fish.len());
        while let Some(i) = it.next(self.e_fish.len()) {
            let mut f = self.e_fish[i];
            if self.at_sub(f.x, f.y) {
                self.terminal = true;
            }
            if f.timer == 0 {
                f.timer = self.move_speed;
                f.x = step_x(f.x, f.right);
                self.e_fish[i] = f;
                if off_grid(f.x) {
                    remove_first_equal(&mut self.e_fish, &f);
                } else if self.at_sub(f.x, f.y) {
                    self.terminal = true;
                } else if self.friendly_bullet_at(f.x, f.y).is_some() {
                    remove_first_equal(&mut self.e_fish, &f);
                    r += 1;
                }
            } else {
                self.e_fish[i].timer -= 1;
            }
        }
        r
    }
}
