//! Freeway, as `minatar/environments/freeway.py` (minatar 1.0.15).
//!
//! A chicken in column 4 crosses eight lanes of cars (rows 1–8), moving at most once every
//! three frames; reaching row 0 gives +1, sends it back to row 9 and redraws the car speeds.
//! A car hitting it sends it back to row 9. The episode ends after 2500 frames (on the
//! 2501st `act`). Channels: chicken, car, and five trail channels, one per car speed.
//! There is no difficulty ramping (the package ignores `difficulty_ramping`).

use serde::{Deserialize, Serialize};

use super::game::{set, Game, Move};
use super::RandomState;

const PLAYER_SPEED: i32 = 3;
const TIME_LIMIT: i32 = 2500;

const CHICKEN: usize = 0;
const CAR: usize = 1;
/// `speed1`; the trail of a car of speed s is channel `SPEED1 + s - 1`.
const SPEED1: usize = 2;

/// A car in lane `i` (row i + 1): `[x, i + 1, timer, speed]` in the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Car {
    x: i32,
    /// Frames until the car moves next.
    timer: i32,
    /// Frames per move, signed by direction (right if positive). 0 only when a `rand()`
    /// draw is exactly 0.5 (`np.sign(0.0) == 0`), which the package then moves left.
    speed: i32,
}

/// The state of a Freeway game (`freeway.py`'s `Env`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeway {
    cars: [Car; 8],
    pos: i32,
    move_timer: i32,
    terminate_timer: i32,
    terminal: bool,
}

impl Freeway {
    /// `_randomize_cars`: `randint(1, 6, 8)` speeds (masked rejection over 0..8), then
    /// `np.sign(rand(8) - 0.5)` directions; `initialize` also puts every car at x = 0.
    fn randomize_cars(&mut self, initialize: bool, rng: &mut RandomState) {
        let mut speeds = [0i32; 8];
        for s in &mut speeds {
            *s = rng.randint(1, 6) as i32;
        }
        for s in &mut speeds {
            let u = rng.rand();
            *s *= if u > 0.5 {
                1
            } else if u < 0.5 {
                -1
            } else {
                0
            };
        }
        for (car, &speed) in self.cars.iter_mut().zip(&speeds) {
            if initialize {
                car.x = 0;
            }
            car.timer = speed.abs();
            car.speed = speed;
        }
    }

    fn hit(&mut self, lane: usize) {
        if self.cars[lane].x == 4 && lane as i32 + 1 == self.pos {
            self.pos = 9;
        }
    }
}

impl Game for Freeway {
    const NAME: &'static str = "Freeway";
    const CHANNELS: usize = 7;
    const MINIMAL_ACTIONS: &'static [u8] = &[0, 2, 4];

    fn new(_ramping: bool) -> Self {
        Self {
            cars: [Car {
                x: 0,
                timer: 1,
                speed: 1,
            }; 8],
            pos: 9,
            move_timer: PLAYER_SPEED,
            terminate_timer: TIME_LIMIT,
            terminal: false,
        }
    }

    fn reset(&mut self, rng: &mut RandomState) {
        self.randomize_cars(true, rng);
        self.pos = 9;
        self.move_timer = PLAYER_SPEED;
        self.terminate_timer = TIME_LIMIT;
        self.terminal = false;
    }

    fn difficulty_ramp(&self) -> Option<i32> {
        None
    }

    fn terminal(&self) -> bool {
        self.terminal
    }

    fn act(&mut self, action: Move, rng: &mut RandomState) -> u32 {
        let mut r = 0;
        if action == Move::Up && self.move_timer == 0 {
            self.move_timer = PLAYER_SPEED;
            self.pos = (self.pos - 1).max(0);
        } else if action == Move::Down && self.move_timer == 0 {
            self.move_timer = PLAYER_SPEED;
            self.pos = (self.pos + 1).min(9);
        }
        if self.pos == 0 {
            r += 1;
            self.randomize_cars(false, rng);
            self.pos = 9;
        }
        for lane in 0..8 {
            self.hit(lane);
            let car = &mut self.cars[lane];
            if car.timer == 0 {
                car.timer = car.speed.abs();
                car.x += if car.speed > 0 { 1 } else { -1 };
                if car.x < 0 {
                    car.x = 9;
                } else if car.x > 9 {
                    car.x = 0;
                }
                self.hit(lane);
            } else {
                car.timer -= 1;
            }
        }
        if self.move_timer > 0 {
            self.move_timer -= 1;
        }
        self.terminate_timer -= 1;
        if self.terminate_timer < 0 {
            self.terminal = true;
        }
        r
    }

    fn write_state(&self, obs: &mut [f32]) {
        let c = Self::CHANNELS;
        set(obs, c, self.pos as usize, 4, CHICKEN);
        // The package's `trail` variable outlives its loop iteration: a car of speed 0 (see
        // `Car::speed`) reuses the previous car's trail channel (the first car would raise
        // UnboundLocalError; here it draws no trail).
        let mut trail = None;
        for (lane, car) in self.cars.iter().enumerate() {
            let y = lane + 1;
            set(obs, c, y, car.x as usize, CAR);
            let back_x = match if car.speed > 0 { car.x - 1 } else { car.x + 1 } {
                -1 => 9,
                10 => 0,
                b => b,
            };
            if (1..=5).contains(&car.speed.abs()) {
                trail = Some(SPEED1 + car.speed.unsigned_abs() as usize - 1);
            }
            if let Some(trail) = trail {
                set(obs, c, y, back_x as usize, trail);
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        let cars = self
            .cars
            .iter()
            .all(|car| (0..=9).contains(&car.x) && (-5..=5).contains(&car.speed));
        if cars && (0..=9).contains(&self.pos) {
            Ok(())
        } else {
            Err("a position or car speed is off the grid".to_string())
        }
    }
}
