//! Diagnostics of a set of task gradients: norms, pairwise cosine similarities, conflicts
//! (the quantities PCGrad's paper, Yu et al. 2020, uses to define gradient conflict).

use super::GradMatrix;

/// Norms and pairwise cosine similarities of the task gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct GradStats {
    /// Number of tasks `T`.
    pub tasks: usize,
    /// `‖g_t‖` for each task.
    pub norms: Vec<f64>,
    /// `cos(g_i, g_j)`, row-major `[T, T]`; 0 where either gradient is zero.
    pub cosine: Vec<f64>,
    /// Pairs `i < j` whose gradients conflict (`g_i · g_j < 0`).
    pub conflicts: usize,
}

impl GradStats {
    /// The statistics of `g`, from its Gramian (computed now if nothing asked for it yet).
    pub fn of(g: &GradMatrix) -> Self {
        Self::from_gramian(g.gramian(), g.tasks())
    }

    /// The statistics from a row-major `[T, T]` Gramian.
    pub fn from_gramian(gram: &[f64], tasks: usize) -> Self {
        let norms: Vec<f64> = (0..tasks)
            .map(|t| gram[t * tasks + t].max(0.0).sqrt())
            .collect();
        let mut cosine = vec![0.0; tasks * tasks];
        let mut conflicts = 0;
        for i in 0..tasks {
            for j in 0..tasks {
                let denominator = norms[i] * norms[j];
                if denominator > 0.0 {
                    cosine[i * tasks + j] = gram[i * tasks + j] / denominator;
                }
                if i < j && gram[i * tasks + j] < 0.0 {
                    conflicts += 1;
                }
            }
        }
        Self {
            tasks,
            norms,
            cosine,
            conflicts,
        }
    }

    /// `cos(g_i, g_j)`.
    pub fn cos(&self, i: usize, j: usize) -> f64 {
        self.cosine[i * self.tasks + j]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    #[test]
    fn norms_cosines_and_conflicts() {
        let g = Tensor::from_slice(&[3.0f32, 4.0, -3.0, -4.0, 0.0, 2.0]).reshape([3, 2]);
        let s = GradStats::of(&GradMatrix::new(g));
        assert_eq!(s.norms, vec![5.0, 5.0, 2.0]);
        assert!((s.cos(0, 1) + 1.0).abs() < 1e-12);
        assert!((s.cos(0, 2) - 0.8).abs() < 1e-12);
        assert_eq!(s.conflicts, 2, "pairs (0,1) and (1,2) conflict");
    }
}
