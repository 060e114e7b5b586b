//! Projection onto the dual cone of the task gradients, the step shared by UPGrad and DualProj
//! ("Jacobian Descent for Multi-Objective Optimization", Quinton & Rey 2024, Proposition 1).
//!
//! The projection of `Jᵀu` onto the dual cone `{x : J x ≥ 0}` of the rows of `J` is `Jᵀv` with
//! `v = argmin_{v ≥ u} vᵀ G v` (`G = J Jᵀ`). As torchjd's `QuadprogProjector`, `G` is first
//! divided by its trace (zero if the trace is below `norm_eps = 1e-4`) and `reg_eps = 1e-4` is
//! added to its diagonal; the bound-constrained QP is then solved exactly by a primal
//! active-set method (finite, `T ≤ 50`), where torchjd calls quadprog.

/// `G / tr(G) + reg_eps · I` (row-major `[T, T]`), as torchjd's `regularize(normalize(G))`.
pub fn normalized(gram: &[f64], tasks: usize) -> Vec<f64> {
    const NORM_EPS: f64 = 1e-4;
    const REG_EPS: f64 = 1e-4;
    let trace: f64 = (0..tasks).map(|t| gram[t * tasks + t]).sum();
    let mut g: Vec<f64> = if trace < NORM_EPS {
        vec![0.0; gram.len()]
    } else {
        gram.iter().map(|x| x / trace).collect()
    };
    for t in 0..tasks {
        g[t * tasks + t] += REG_EPS;
    }
    g
}

/// `argmin_{v ≥ u} vᵀ G v` for a positive definite row-major `G` of `T = u.len()` tasks.
pub fn project(u: &[f64], g: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = u.to_vec();
    // `active[i]`: the bound `v_i = u_i` holds as an equality.
    let mut active = vec![true; n];
    for _ in 0..(20 * n + 100) {
        let free: Vec<usize> = (0..n).filter(|&i| !active[i]).collect();
        // Minimiser with the active bounds fixed: G_FF v_F = -G_FA u_A.
        let mut target = v.clone();
        if !free.is_empty() {
            let a: Vec<f64> = free
                .iter()
                .flat_map(|&i| free.iter().map(move |&j| g[i * n + j]))
                .collect();
            let b: Vec<f64> = free
                .iter()
                .map(|&i| {
                    -(0..n)
                        .filter(|&k| active[k])
                        .map(|k| g[i * n + k] * u[k])
                        .sum::<f64>()
                })
                .collect();
            for (x, &i) in cholesky_solve(a, b).into_iter().zip(&free) {
                target[i] = x;
            }
        }
        // Step towards it as far as the free bounds allow.
        let mut alpha = 1.0;
        let mut blocking = None;
        for &i in &free {
            let p = target[i] - v[i];
            if p < 0.0 {
                let a = (u[i] - v[i]) / p;
                if a < alpha {
                    alpha = a;
                    blocking = Some(i);
                }
            }
        }
        for &i in &free {
            v[i] += alpha * (target[i] - v[i]);
        }
        if let Some(i) = blocking {
            active[i] = true;
            v[i] = u[i];
            continue;
        }
        // At the subproblem's minimiser: release the bound with the most negative multiplier.
        let grad: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|k| g[i * n + k] * v[k]).sum())
            .collect();
        let release = (0..n)
            .filter(|&i| active[i] && grad[i] < -1e-13)
            .min_by(|&a, &b| grad[a].total_cmp(&grad[b]));
        match release {
            Some(i) => active[i] = false,
            None => return v,
        }
    }
    v
}

/// Solves `A x = b` for a symmetric positive definite row-major `A`.
pub(crate) fn cholesky_solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        let d = d.max(1e-300).sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        for k in 0..i {
            b[i] -= a[i * n + k] * b[k];
        }
        b[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            b[i] -= a[k * n + i] * b[k];
        }
        b[i] /= a[i * n + i];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfies_the_kkt_conditions() {
        // G of three conflicting directions, plus a small ridge.
        let g = [1.0, -0.9, 0.2, -0.9, 1.0, -0.3, 0.2, -0.3, 1.0];
        let u = [0.5, 0.3, 0.2];
        let v = project(&u, &g);
        for i in 0..3 {
            let grad: f64 = (0..3).map(|k| g[i * 3 + k] * v[k]).sum();
            assert!(v[i] >= u[i] - 1e-12);
            assert!(grad >= -1e-10, "multiplier {grad}");
            assert!((v[i] - u[i]).abs() < 1e-10 || grad.abs() < 1e-10);
        }
    }
}
