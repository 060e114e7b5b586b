//! Task roles (main or auxiliary) and the main gradient `g_m = Σ_{t main} g_t` that the
//! auxiliary-task weightings compare every task with, computed from the Gramian.

use std::fmt;
use std::str::FromStr;

use super::WeightingError;

/// What a task is trained for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A task whose performance is the goal (config role `main`).
    Main,
    /// A task trained only to help the main tasks (config role `auxiliary`).
    Auxiliary,
}

impl FromStr for Role {
    type Err = WeightingError;

    /// `main` or `auxiliary`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "main" => Ok(Self::Main),
            "auxiliary" => Ok(Self::Auxiliary),
            _ => Err(WeightingError::UnknownRole {
                role: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Main => "main",
            Self::Auxiliary => "auxiliary",
        })
    }
}

/// The tasks split by role, for the auxiliary-task weightings (at least one of each).
#[derive(Debug, Clone)]
pub(crate) struct Split {
    /// Number of tasks `T`.
    pub tasks: usize,
    /// Indices of the main tasks.
    pub main: Vec<usize>,
    /// Indices of the auxiliary tasks.
    pub aux: Vec<usize>,
}

impl Split {
    /// The split of `roles`, which must hold a main and an auxiliary task (for `weighting`).
    pub fn new(weighting: &str, roles: &[Role]) -> Result<Self, WeightingError> {
        let pick =
            |r: Role| -> Vec<usize> { (0..roles.len()).filter(|&t| roles[t] == r).collect() };
        let (main, aux) = (pick(Role::Main), pick(Role::Auxiliary));
        if main.is_empty() {
            return Err(WeightingError::NoMainTask {
                weighting: weighting.to_string(),
            });
        }
        if aux.is_empty() {
            return Err(WeightingError::NoAuxiliaryTask {
                weighting: weighting.to_string(),
            });
        }
        Ok(Self {
            tasks: roles.len(),
            main,
            aux,
        })
    }

    /// Fills `dots[t] = g_m · g_t` for every task from the row-major Gramian and returns
    /// `‖g_m‖² = Σ_{i, j main} G_ij`.
    pub fn main_products(&self, gram: &[f64], dots: &mut [f64]) -> f64 {
        let n = self.tasks;
        for (t, d) in dots.iter_mut().enumerate() {
            *d = self.main.iter().map(|&i| gram[i * n + t]).sum();
        }
        self.main.iter().map(|&i| dots[i]).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        assert_eq!("main".parse::<Role>().unwrap(), Role::Main);
        assert_eq!("auxiliary".parse::<Role>().unwrap(), Role::Auxiliary);
        assert_eq!(Role::Auxiliary.to_string(), "auxiliary");
        let err = "aux".parse::<Role>().err().unwrap();
        assert_eq!(
            err.to_string(),
            "unknown task role `aux`; use main or auxiliary"
        );
    }

    #[test]
    fn the_main_gradient_is_the_sum_of_the_main_tasks_gradients() {
        // g0 = (1, 0), g1 = (0, 2) main; g2 = (3, 4) auxiliary. g_m = (1, 2).
        let g = [[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]];
        let gram: Vec<f64> = (0..9)
            .map(|k| g[k / 3][0] * g[k % 3][0] + g[k / 3][1] * g[k % 3][1])
            .collect();
        let split = Split::new("x", &[Role::Main, Role::Main, Role::Auxiliary]).unwrap();
        let mut dots = [0.0; 3];
        let norm2 = split.main_products(&gram, &mut dots);
        assert_eq!(dots, [1.0, 4.0, 11.0]);
        assert_eq!(norm2, 5.0);
        assert_eq!(split.aux, vec![2]);
    }
}
