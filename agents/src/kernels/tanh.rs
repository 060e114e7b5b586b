//! tanh and its backward pass as loops over host memory, vectorised for the CPU found at run
//! time (AVX-512 where present, else AVX2 with FMA).
//!
//! The forward pass is SLEEF's formulation (Shibata and Petrogalli, "SLEEF: A Portable
//! Vectorized Library of C Standard Mathematical Functions", IEEE TPDS 2020, `tanhf`):
//! `tanh |x| = d / (d + 2)` with `d = e^{2|x|} − 1`, and `e^y − 1` as `2ⁿ (e^r − 1) + (2ⁿ − 1)`
//! after reducing `y = n ln 2 + r`, `|r| ≤ ln 2 / 2`, with `e^r − 1 = r + r² P(r)` (Taylor to
//! `r⁸`, below 0.2 ulp there) — accurate near 0 without a second branch, so that every element
//! takes the same instructions and the loop vectorises. The polynomial is evaluated with fused
//! multiply-adds (one instruction on every x86-64 CPU with AVX2; a slow library call on older
//! ones). It stays within 2 ulp of libtorch's tanh (SLEEF's 1-ulp `tanhf`), as the tests check
//! on a dense grid.

use multiversion::multiversion;

/// Above this, `tanh(x)` rounds to ±1 in `f32` (from about 9.01); larger inputs are clamped
/// to it, which also keeps `e^{2|x|}` finite.
const SATURATION: f32 = 10.0;

/// `1.5 · 2²³`: adding it rounds an `f32` of magnitude below 2²² to an integer, which is then
/// in the low bits of the sum.
const ROUNDER: f32 = 12_582_912.0;

/// `e^y − 1` for `0 ≤ y ≤ 2 · SATURATION` (see the module documentation).
#[inline(always)]
fn exp_m1(y: f32) -> f32 {
    let shifted = y.mul_add(std::f32::consts::LOG2_E, ROUNDER);
    let n = shifted - ROUNDER;
    // ln 2 in two parts, so that `n · 0.693359375` is exact.
    #[allow(clippy::excessive_precision, reason = "Cephes' split of ln 2")]
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_4, y));
    let p = (1.0f32 / 40320.0)
        .mul_add(r, 1.0 / 5040.0)
        .mul_add(r, 1.0 / 720.0)
        .mul_add(r, 1.0 / 120.0)
        .mul_add(r, 1.0 / 24.0)
        .mul_add(r, 1.0 / 6.0)
        .mul_add(r, 0.5);
    let e_r_m1 = p.mul_add(r * r, r);
    let n_bits = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    two_n.mul_add(e_r_m1, two_n - 1.0)
}

/// `tanh(x)` (see the module documentation); NaN stays NaN, and −0 stays −0.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Not `min`, which would turn NaN into the bound.
    let a = if a > SATURATION { SATURATION } else { a };
    let d = exp_m1(a + a);
    (d / (d + 2.0)).copysign(x)
}

/// `x ← tanh(x)` element by element.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.2",
    "aarch64+neon",
))]
pub(crate) fn tanh_in_place(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = tanh(*v));
}

/// The gradient before a tanh from the gradient `dy` after it and its output `y`:
/// `dx = dy (1 − y²)`, written into `dx`. `1 − y²` is one fused multiply-add, as in
/// libtorch's `tanh_backward` (built with FMA contraction): it has no cancellation error
/// when `|y|` is near 1.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.2",
    "aarch64+neon",
))]
pub(crate) fn tanh_backward(dx: &mut [f32], dy: &[f32], y: &[f32]) {
    for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
        *dx = dy * (-y).mul_add(y, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    /// Distance in units in the last place between two finite `f32`s of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        let key = |x: f32| {
            let bits = x.to_bits() as i32;
            if bits < 0 {
                i32::MIN - bits
            } else {
                bits
            }
        };
        key(a).abs_diff(key(b))
    }

    #[test]
    fn tanh_is_within_two_ulp_of_libtorch_on_a_dense_grid() {
        // Every 592nd float of [-12, 12] (about 3.7 million values): each binade densely.
        let mut grid: Vec<f32> = Vec::new();
        let mut bits = 0u32;
        while f32::from_bits(bits) <= 12.0 {
            let x = f32::from_bits(bits);
            grid.extend([x, -x]);
            bits += 37 * 16;
        }
        grid.extend([0.625, -0.625, 0.624_999_94, 9.0, 9.02, 10.0, 1e-30, 1e-45]);
        assert!(grid.len() > 1_000_000);
        let reference = Vec::<f32>::try_from(Tensor::from_slice(&grid).tanh()).unwrap();
        let mut ours = grid.clone();
        tanh_in_place(&mut ours);
        let worst = (ours.iter().zip(&reference))
            .map(|(&a, &b)| ulps(a, b))
            .max()
            .unwrap();
        assert!(worst <= 2, "worst {worst} ulp");
    }

    #[test]
    fn tanh_keeps_the_special_values() {
        let mut x = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            100.0,
            -100.0,
        ];
        tanh_in_place(&mut x);
        assert_eq!(x[0].to_bits(), 0.0f32.to_bits());
        assert_eq!(x[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(x[2..4], [1.0, -1.0]);
        assert!(x[4].is_nan());
        assert_eq!(x[5..], [1.0, -1.0]);
    }

    #[test]
    fn tanh_backward_is_libtorchs_formula() {
        tch::manual_seed(3);
        let f = (Kind::Float, Device::Cpu);
        let dy = Tensor::randn([1000], f);
        let y = Tensor::rand([1000], f) * 2.0 - 1.0;
        let reference = Vec::<f32>::try_from(Tensor::tanh_backward(&dy, &y)).unwrap();
        let (dy, y) = (
            Vec::<f32>::try_from(&dy).unwrap(),
            Vec::<f32>::try_from(&y).unwrap(),
        );
        let mut dx = vec![0.0; 1000];
        tanh_backward(&mut dx, &dy, &y);
        for (a, b) in dx.iter().zip(&reference) {
            assert!(ulps(*a, *b) <= 1, "{a} vs {b}");
        }
    }
}
