//! Generalized Advantage Estimation (Schulman et al. 2016, "High-Dimensional Continuous Control
//! Using Generalized Advantage Estimation", eq. 16), with time limits handled as in
//! Pardo et al. 2018 ("Time Limits in Reinforcement Learning"): a terminated episode does not
//! bootstrap, a truncated one bootstraps from the value of its final observation.

/// One rollout of `steps × envs` transitions, laid out step-major (`index = step * envs + env`).
#[derive(Debug, Clone, Copy)]
pub struct Rollout<'a> {
    /// Number of environments (columns).
    pub envs: usize,
    /// `r_t`.
    pub rewards: &'a [f32],
    /// `V(s_t)`.
    pub values: &'a [f32],
    /// The episode reached a terminal state at this transition.
    pub terminated: &'a [bool],
    /// The episode was cut (time limit) at this transition.
    pub truncated: &'a [bool],
    /// `V(s_final)` of the finished episode's final observation; read only where `truncated`
    /// and not `terminated`.
    pub final_values: &'a [f32],
    /// `V(s_T)` of the observation after the last step, one per environment.
    pub last_values: &'a [f32],
}

/// Writes the GAE(λ) advantages and the returns `advantages + values` of `rollout`.
///
/// `δ_t = r_t + γ V_next − V(s_t)` with `V_next = 0` if terminated, `V(s_final)` if truncated,
/// else `V(s_{t+1})`; `A_t = δ_t + γλ A_{t+1}`, the recursion cut where the episode ended.
///
/// # Shapes
/// Every slice of `rollout` and both outputs hold `steps × envs` values, except
/// `last_values` (`envs`).
pub fn gae(
    rollout: &Rollout<'_>,
    gamma: f32,
    lambda: f32,
    advantages: &mut [f32],
    returns: &mut [f32],
) {
    let n = rollout.envs;
    let steps = rollout.rewards.len() / n;
    for env in 0..n {
        let mut next_advantage = 0.0;
        let mut next_value = rollout.last_values[env];
        for step in (0..steps).rev() {
            let i = step * n + env;
            let (terminated, truncated) = (rollout.terminated[i], rollout.truncated[i]);
            let bootstrap = if terminated {
                0.0
            } else if truncated {
                rollout.final_values[i]
            } else {
                next_value
            };
            let delta = rollout.rewards[i] + gamma * bootstrap - rollout.values[i];
            let continues = if terminated || truncated { 0.0 } else { 1.0 };
            next_advantage = delta + gamma * lambda * continues * next_advantage;
            advantages[i] = next_advantage;
            returns[i] = next_advantage + rollout.values[i];
            next_value = rollout.values[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &Rollout<'_>, gamma: f32, lambda: f32) -> Vec<f32> {
        let mut adv = vec![0.0; r.rewards.len()];
        let mut ret = vec![0.0; r.rewards.len()];
        gae(r, gamma, lambda, &mut adv, &mut ret);
        for i in 0..adv.len() {
            assert!((ret[i] - adv[i] - r.values[i]).abs() < 1e-6);
        }
        adv
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn hand_computed_without_episode_end() {
        // One env, 3 steps, γ = 0.9, λ = 0.5. δ = r + γ V' − V:
        // δ2 = 1 + 0.9·4 − 3 = 1.6; δ1 = 0 + 0.9·3 − 2 = 0.7; δ0 = 2 + 0.9·2 − 1 = 2.8
        // A2 = 1.6; A1 = 0.7 + 0.45·1.6 = 1.42; A0 = 2.8 + 0.45·1.42 = 3.439
        let r = Rollout {
            envs: 1,
            rewards: &[2.0, 0.0, 1.0],
            values: &[1.0, 2.0, 3.0],
            terminated: &[false; 3],
            truncated: &[false; 3],
            final_values: &[0.0; 3],
            last_values: &[4.0],
        };
        assert!(close(&run(&r, 0.9, 0.5), &[3.439, 1.42, 1.6]));
    }

    #[test]
    fn termination_does_not_bootstrap_and_cuts_the_recursion() {
        // Terminated at step 1: δ1 = 0 − 2 = −2 (no V'), A1 = −2; A0 = δ0 + γλ A1.
        let r = Rollout {
            envs: 1,
            rewards: &[2.0, 0.0, 1.0],
            values: &[1.0, 2.0, 3.0],
            terminated: &[false, true, false],
            truncated: &[false; 3],
            final_values: &[100.0; 3],
            last_values: &[4.0],
        };
        let a0 = 2.0 + 0.9 * 2.0 - 1.0 + 0.45 * -2.0;
        assert!(close(&run(&r, 0.9, 0.5), &[a0, -2.0, 1.6]));
    }

    #[test]
    fn truncation_bootstraps_from_the_final_observation() {
        // Truncated at step 1 with V(final) = 10: δ1 = 0 + 0.9·10 − 2 = 7, A1 = 7 (cut).
        let r = Rollout {
            envs: 1,
            rewards: &[2.0, 0.0, 1.0],
            values: &[1.0, 2.0, 3.0],
            terminated: &[false; 3],
            truncated: &[false, true, false],
            final_values: &[0.0, 10.0, 0.0],
            last_values: &[4.0],
        };
        let a0 = 2.0 + 0.9 * 2.0 - 1.0 + 0.45 * 7.0;
        assert!(close(&run(&r, 0.9, 0.5), &[a0, 7.0, 1.6]));
    }

    #[test]
    fn environments_are_independent_columns() {
        // Two envs interleaved step-major; the second is the first test's env.
        let r = Rollout {
            envs: 2,
            rewards: &[0.0, 2.0, 0.0, 0.0, 0.0, 1.0],
            values: &[0.0, 1.0, 0.0, 2.0, 0.0, 3.0],
            terminated: &[false; 6],
            truncated: &[false; 6],
            final_values: &[0.0; 6],
            last_values: &[0.0, 4.0],
        };
        let adv = run(&r, 0.9, 0.5);
        assert!(close(&[adv[1], adv[3], adv[5]], &[3.439, 1.42, 1.6]));
        assert!(close(&[adv[0], adv[2], adv[4]], &[0.0, 0.0, 0.0]));
    }

    #[test]
    fn lambda_one_gives_discounted_returns_minus_values() {
        let r = Rollout {
            envs: 1,
            rewards: &[1.0, 1.0, 1.0],
            values: &[0.5, 0.5, 0.5],
            terminated: &[false, false, true],
            truncated: &[false; 3],
            final_values: &[0.0; 3],
            last_values: &[9.0],
        };
        let g = [1.0 + 0.9 + 0.81, 1.0 + 0.9, 1.0];
        assert!(close(
            &run(&r, 0.9, 1.0),
            &[g[0] - 0.5, g[1] - 0.5, g[2] - 0.5]
        ));
    }
}
