//! The products of `k` stacked linear layers (the actor's and the critic's towers, see
//! `tower.rs`) on host memory: forward `z = x Wᵀ + b`, the per-task weight gradients
//! `dzᵀ x` with the bias sums, and the gradient at the input `dz W`. Every function takes
//! slices lent by a `Lease` and writes only its last argument.

use multiversion::multiversion;

use crate::host::{gemm, Matrix};

#[cfg(test)]
thread_local! {
    /// Calls of this file's kernels on this thread, for tests that check the host path ran.
    pub(crate) static CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts a kernel call (tests only).
fn count() {
    #[cfg(test)]
    CALLS.set(CALLS.get() + 1);
}

/// The shape of `towers` stacked layers `inputs → out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Stacked layers (towers).
    pub towers: usize,
    /// Outputs of each layer.
    pub out: usize,
    /// Inputs of each layer.
    pub inputs: usize,
}

/// Where the layers' weights (or their gradients) sit in a flat buffer: tower `c`'s weight
/// `[out, in]` of task `t` at `offset + c · tower_stride + t · task_stride`, row-major, its
/// bias `[out]` right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Where the first tower's (first task's) weight starts.
    pub offset: usize,
    /// Distance between towers.
    pub tower_stride: usize,
    /// Distance between tasks (0 for parameters).
    pub task_stride: usize,
}

impl Placement {
    /// Where tower `c`'s weight of task `t` starts.
    fn weight(&self, c: usize, t: usize) -> usize {
        self.offset + c * self.tower_stride + t * self.task_stride
    }
}

/// `z_c = x_c W_cᵀ + b_c` for every tower `c`, into `z` `[k, B, out]`: `x` is `[k, B, in]`, or
/// `[B, in]` read by every tower when `shared_input`; the weights are read from `params`.
pub(crate) fn linear(
    x: &[f32],
    shared_input: bool,
    params: &[f32],
    shape: Shape,
    place: Placement,
    z: &mut [f32],
) {
    count();
    let Shape { out, inputs, .. } = shape;
    let rows = z.len() / (shape.towers * out).max(1);
    if rows == 0 {
        return;
    }
    let weight = Matrix::row_major(out, inputs).t();
    for (c, z) in z.chunks_exact_mut(rows * out).enumerate() {
        let w = place.weight(c, 0);
        let bias = &params[w + out * inputs..w + out * inputs + out];
        z.chunks_exact_mut(out)
            .for_each(|row| row.copy_from_slice(bias));
        let x = if shared_input {
            x
        } else {
            &x[c * rows * inputs..]
        };
        let x = (x, Matrix::row_major(rows, inputs));
        gemm(
            1.0,
            x,
            (&params[w..], weight),
            1.0,
            (z, Matrix::row_major(rows, out)),
        );
    }
}

/// Task `t`'s gradients of every tower's weight and bias, `dz_tᵀ x_t` and `Σ_rows dz_t`,
/// into `grads` at `place`, from the gradient `dz` `[k, B, out]` at the layers' outputs and
/// their input `x` `[k, B, in]`, rows grouped by task (`rows[t]` each).
pub(crate) fn weight_grads(
    dz: &[f32],
    x: &[f32],
    rows: &[i64],
    shape: Shape,
    place: Placement,
    grads: &mut [f32],
) {
    count();
    let Shape { out, inputs, .. } = shape;
    let batch = rows.iter().sum::<i64>() as usize;
    for c in 0..shape.towers {
        let mut start = c * batch;
        for (t, n) in rows.iter().map(|&n| n as usize).enumerate() {
            let dz = &dz[start * out..(start + n) * out];
            let x = (&x[start * inputs..], Matrix::row_major(n, inputs));
            let w = place.weight(c, t);
            let (weight, bias) = grads[w..].split_at_mut(out * inputs);
            let dzt = (dz, Matrix::row_major(n, out).t());
            gemm(1.0, dzt, x, 0.0, (weight, Matrix::row_major(out, inputs)));
            column_sums(dz, &mut bias[..out]);
            start += n;
        }
    }
}

/// `Σ_rows m` of a row-major matrix `m` with `sums.len()` columns, into `sums`.
#[multiversion(targets = "simd")]
fn column_sums(m: &[f32], sums: &mut [f32]) {
    sums.fill(0.0);
    for row in m.chunks_exact(sums.len()) {
        sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    }
}

/// `dx_c = dz_c W_c` for every tower `c`, into `dx` `[k, B, in]`, from `dz` `[k, B, out]` and
/// the weights in `params`.
pub(crate) fn input_grads(
    dz: &[f32],
    params: &[f32],
    shape: Shape,
    place: Placement,
    dx: &mut [f32],
) {
    count();
    let Shape { out, inputs, .. } = shape;
    let rows = dx.len() / (shape.towers * inputs).max(1);
    if rows == 0 {
        return;
    }
    for (c, dx) in dx.chunks_exact_mut(rows * inputs).enumerate() {
        let dz = (&dz[c * rows * out..], Matrix::row_major(rows, out));
        let weight = (
            &params[place.weight(c, 0)..],
            Matrix::row_major(out, inputs),
        );
        gemm(1.0, dz, weight, 0.0, (dx, Matrix::row_major(rows, inputs)));
    }
}
