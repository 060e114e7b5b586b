//! What a step of each task costs, measured once when the vector env is made, so that
//! shards can be cut to take equal time rather than equal rows: with tasks as different as
//! CartPole (tens of nanoseconds a step) and Acrobot (about a microsecond), equal rows
//! would leave one thread idle while another steps all the expensive rows.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use polytask_envs::{Action, Env, Space};

/// The learner's extra latency in handing a shard to a worker and seeing it finish (a few
/// cache-line transfers between cores), in nanoseconds: a core-to-core round trip measured
/// 50 to 340 ns on the 2-core development machine (a virtual machine), plus the action and
/// result lines. The calling thread's shard is made that much more expensive than each
/// worker's.
pub(super) const HANDOFF_NS: f64 = 300.0;

/// Steps per timed round of [`step_cost`].
const STEPS: u32 = 32;
/// Rounds of [`step_cost`]; the fastest counts, as noise only ever slows a round.
const ROUNDS: u32 = 5;
/// [`step_cost`] stops after this long, however slow the environment.
const BUDGET: Duration = Duration::from_millis(5);

/// The time (ns) a step of `env` takes: the fastest of a few rounds of steps from a reset,
/// with actions that cycle through a discrete space or sit at a box's centre, resetting when
/// an episode ends. `env` is a spare instance, made for this; if it fails or panics the
/// cost is taken to be 1 ns.
pub(super) fn step_cost(env: &mut dyn Env) -> f64 {
    let measured = catch_unwind(AssertUnwindSafe(|| {
        let mut obs = vec![0.0; env.observation_space().flat_dim()];
        let space = env.action_space().clone();
        let mut action = match &space {
            Space::Discrete(_) => vec![0.0],
            Space::Box(b) => b
                .low
                .iter()
                .zip(&b.high)
                .map(|(&lo, &hi)| {
                    let mid = 0.5 * (lo + hi);
                    if mid.is_finite() {
                        mid
                    } else {
                        0.0f32.clamp(lo, hi)
                    }
                })
                .collect(),
        };
        env.reset(Some(0), &mut obs);
        let start = Instant::now();
        let mut best = f64::INFINITY;
        for _ in 0..ROUNDS {
            let round = Instant::now();
            for i in 0..STEPS {
                if let Space::Discrete(n) = space {
                    action[0] = (i as usize % n) as f32;
                }
                let step = env
                    .step(Action::from_flat(&space, &action), &mut obs)
                    .ok()?;
                if step.done() {
                    env.reset(None, &mut obs);
                }
            }
            best = best.min(round.elapsed().as_nanos() as f64 / f64::from(STEPS));
            if start.elapsed() > BUDGET {
                break;
            }
        }
        Some(best)
    }));
    measured.ok().flatten().unwrap_or(1.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polytask_envs::{Params, Registry};

    #[test]
    fn acrobot_costs_more_than_cartpole() {
        let registry = Registry::builtin();
        let cost = |id: &str| step_cost(&mut *registry.make(id, &Params::new()).unwrap());
        let (cartpole, acrobot) = (cost("CartPole-v1"), cost("Acrobot-v1"));
        assert!(acrobot > 3.0 * cartpole, "{cartpole} {acrobot}");
        assert!(cost("Pendulum-v1") >= 1.0 && cost("MountainCarContinuous-v0") >= 1.0);
    }
}
