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
///
/// A primal active-set method from `v = u` (every bound active): at each step the minimiser
/// with the active bounds held, `G_FF v_F = −G_FA u_A` on the free coordinates `F`, is
/// approached as far as the free bounds allow; a bound that blocks becomes active, else the
/// active bound with the most negative multiplier `(G v)_i` is released. The Cholesky factor
/// of `G_FF` is kept from one step to the next: releasing a bound appends one row to it
/// (`O(|F|²)`), so a problem that frees `k` coordinates one by one costs `O(k³)` in all
/// rather than `O(k⁴)`; only a blocking bound refactors it.
pub fn project(u: &[f64], g: &[f64]) -> Vec<f64> {
    let n = u.len();
    let mut v = u.to_vec();
    // `active[i]`: the bound `v_i = u_i` holds as an equality.
    let mut active = vec![true; n];
    // Where `u` is not zero: `v` is zero elsewhere on the active bounds, so the products
    // with `v` and `u_A` read only these and the free coordinates.
    let support: Vec<usize> = (0..n).filter(|&i| u[i] != 0.0).collect();
    let mut factor = Factor::new(n);
    let mut target = vec![0.0; n];
    for _ in 0..(20 * n + 100) {
        factor.minimiser(u, g, &active, &support, &mut target);
        // Step towards it as far as the free bounds allow.
        let mut alpha = 1.0;
        let mut blocking = None;
        for &i in factor.free() {
            let p = target[i] - v[i];
            if p < 0.0 {
                let a = (u[i] - v[i]) / p;
                if a < alpha {
                    alpha = a;
                    blocking = Some(i);
                }
            }
        }
        for &i in factor.free() {
            v[i] += alpha * (target[i] - v[i]);
        }
        if let Some(i) = blocking {
            active[i] = true;
            v[i] = u[i];
            factor.remove(i, g);
            continue;
        }
        // At the subproblem's minimiser: release the bound with the most negative multiplier
        // `(G v)_i` (only the active bounds' are needed).
        let nonzero = || factor.free().iter().chain(&support);
        let release = (0..n)
            .filter(|&i| active[i])
            .map(|i| (i, nonzero().map(|&k| g[i * n + k] * v[k]).sum::<f64>()))
            .filter(|&(_, m)| m < -1e-13)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match release {
            Some((i, _)) => {
                active[i] = false;
                factor.push(i, g);
            }
            None => return v,
        }
    }
    v
}

/// The lower Cholesky factor `L` of `G_FF` (`L Lᵀ = G_FF`) for the free coordinates `F` in
/// the order they were freed, `L` row-major `[|F|, |F|]` in an `[n, n]` buffer.
struct Factor {
    n: usize,
    free: Vec<usize>,
    l: Vec<f64>,
}

impl Factor {
    fn new(n: usize) -> Self {
        Self {
            n,
            free: Vec::with_capacity(n),
            l: vec![0.0; n * n],
        }
    }

    fn free(&self) -> &[usize] {
        &self.free
    }

    /// Frees coordinate `i`: `L` gains the row `[lᵀ, d]` with `L l = G_F,i` and
    /// `d = √(G_ii − lᵀ l)`.
    fn push(&mut self, i: usize, g: &[f64]) {
        let (n, k) = (self.n, self.free.len());
        for r in 0..k {
            let mut s = g[i * n + self.free[r]];
            for c in 0..r {
                s -= self.l[k * n + c] * self.l[r * n + c];
            }
            self.l[k * n + r] = s / self.l[r * n + r];
        }
        let norm2: f64 = (0..k).map(|c| self.l[k * n + c] * self.l[k * n + c]).sum();
        self.l[k * n + k] = (g[i * n + i] - norm2).max(1e-300).sqrt();
        self.free.push(i);
    }

    /// Holds coordinate `i` again: refactors `G_FF` without it.
    fn remove(&mut self, i: usize, g: &[f64]) {
        let rest: Vec<usize> = self.free.iter().copied().filter(|&j| j != i).collect();
        self.free.clear();
        for j in rest {
            self.push(j, g);
        }
    }

    /// The minimiser of `vᵀ G v` with `v_i = u_i` on the active bounds, into `target`: `u`
    /// with the free coordinates replaced by the solution of `G_FF v_F = −G_FA u_A`
    /// (`support`: where `u` is not zero).
    fn minimiser(
        &self,
        u: &[f64],
        g: &[f64],
        active: &[bool],
        support: &[usize],
        target: &mut [f64],
    ) {
        let (n, k) = (self.n, self.free.len());
        target.copy_from_slice(u);
        let mut x: Vec<f64> = (self.free.iter())
            .map(|&i| {
                let held = support.iter().filter(|&&j| active[j]);
                -held.map(|&j| g[i * n + j] * u[j]).sum::<f64>()
            })
            .collect();
        for r in 0..k {
            for c in 0..r {
                x[r] -= self.l[r * n + c] * x[c];
            }
            x[r] /= self.l[r * n + r];
        }
        for r in (0..k).rev() {
            for c in r + 1..k {
                x[r] -= self.l[c * n + r] * x[c];
            }
            x[r] /= self.l[r * n + r];
        }
        for (&i, xi) in self.free.iter().zip(x) {
            target[i] = xi;
        }
    }
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

    /// The `[n, n]` Gramian of `n` vectors in dimension `d` from a fixed generator, with the
    /// ridge of [`normalized`].
    fn gram(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let rows: Vec<f64> = (0..n * d).map(|_| next()).collect();
        let dot = |i: usize, j: usize| (0..d).map(|k| rows[i * d + k] * rows[j * d + k]).sum();
        let g: Vec<f64> = (0..n * n).map(|ij| dot(ij / n, ij % n)).collect();
        normalized(&g, n)
    }

    #[test]
    fn many_freed_and_blocking_coordinates_end_at_the_kkt_point() {
        // Nearly orthogonal gradients (many coordinates freed one by one) and few dimensions
        // (conflicts that make freed coordinates block and be held again).
        for (n, d) in [(40, 400), (30, 3), (12, 5), (8, 8)] {
            let g = gram(n, d, (n * d) as u64);
            for t in [0, n / 2, n - 1] {
                let mut u = vec![0.0; n];
                u[t] = 1.0 / n as f64;
                let v = project(&u, &g);
                assert_eq!(v.len(), n);
                for i in 0..n {
                    let grad: f64 = (0..n).map(|k| g[i * n + k] * v[k]).sum();
                    assert!(v[i] >= u[i] - 1e-12, "n {n} d {d}: bound {i}");
                    assert!(grad >= -1e-10, "n {n} d {d}: multiplier {grad}");
                    let slack = (v[i] - u[i]).abs().min(grad.abs());
                    assert!(slack < 1e-10, "n {n} d {d}: complementarity {slack}");
                }
            }
        }
    }

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
