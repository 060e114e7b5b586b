//! Which weightings compose with which surgery aggregators.
//!
//! A weighting scales row `t` of `G` by `w_t ≥ 0` before the aggregator sees it, so the pair
//! computes `A(D G)` with `D = diag(w)`. That is meaningful when the aggregator's result
//! depends on the row scales in the way a loss weighting intends; it is rejected when the
//! aggregator undoes the scales or turns them around. Checked against each definition:
//!
//! - **compose** (for every weighting):
//!   - `sum`, `mean`: `Σ w_t g_t` (`/T`) — the weighted loss's gradient.
//!   - `pcgrad`: whether `g_i` conflicts with `g_j` and the projection of `w_i g_i` on the
//!     normal plane of `w_j g_j` do not depend on positive scales, so the result is
//!     `Σ_i w_i g_i^PC`; a zero row is never projected on.
//!   - `gradvac`: cosines are scale-free and each correction scales with `‖w_i g_i^PC‖`, so the
//!     result is again `Σ_i w_i g_i^PC` (up to its `ε` guards).
//!   - `graddrop`: sign purity and the kept components are sums of the weighted rows; in
//!     expectation the update is `Σ w_t g_t`.
//!   - `upgrad`, `dualproj`: the dual cone `{x : w_t g_tᵀx ≥ 0}` does not depend on `w > 0`
//!     and projection onto a cone is positively homogeneous, so UPGrad gives
//!     `(1/T) Σ w_t π(g_t)` and DualProj `π((1/T) Σ w_t g_t)`: the weights act as torchjd's
//!     preference vector. A zero weight removes that task's constraint (what gating wants).
//!   - `random`: `Σ s_t w_t g_t` with RGW's random `s` (mean `1/T`): the weighting perturbed.
//! - `cagrad` composes with the loss weightings (`uncertainty`, `gradnorm`, `dwa`, `famo`,
//!   weights always `> 0`: CAGrad of the weighted losses) but not with the auxiliary ones,
//!   which can give a weight of 0: a zero row makes `min_t g_tᵀd ≤ 0` for every `d`, its dual
//!   puts all mass on that row and the update is zero.
//! - **rejected** (for every weighting but `none`):
//!   - `mgda`: the min-norm point of the convex hull inverts the scales — for orthogonal rows
//!     it is `∝ Σ_t g_t / (w_t ‖g_t‖²)`, so raising a task's weight lowers its share — and
//!     one zero row makes the min-norm point (and the update) zero.
//!   - `imtl-g`: equal projections on the unit gradients `g_t/‖g_t‖`; with `G' = DGD` the
//!     weights become `D⁻¹ v`, so `A(DG) = Σ v_t g_t / Σ(v_t/w_t)`: same direction, the
//!     weighting only rescales the whole update.
//!   - `nash-mtl`: the bargaining solution of `DGD α' = 1/α'` is `α' = D⁻¹α`, so
//!     `A(DG) = A(G)` exactly (the paper's scale invariance).
//!   - `config`: the direction is built from the unit gradients, so the weights only change
//!     its length.
//!   - `aligned-mtl`: the balance transformation gives all singular values the same value;
//!     for orthogonal rows it maps `w_t g_t` to `σ_min g_t / ‖g_t‖` whatever `w_t`.

use super::{WeightingError, AUXILIARY_NAMES, NAMES};
use crate::surgery;

/// Aggregators whose result keeps the meaning of any row scaling.
const COMPOSE: &[&str] = &[
    "sum", "mean", "pcgrad", "gradvac", "graddrop", "upgrad", "dualproj", "random",
];

/// `Ok` if the weighting `weighting` composes with the aggregator `aggregator` (names as
/// [`super::by_name`] and [`surgery::by_name`] take them); otherwise the reason (see the
/// module documentation). Unknown names of either kind are errors.
pub fn compatible(weighting: &str, aggregator: &str) -> Result<(), WeightingError> {
    if !NAMES.contains(&weighting) {
        return Err(WeightingError::UnknownWeighting {
            name: weighting.to_string(),
            known: NAMES.join(", "),
        });
    }
    if !surgery::NAMES.contains(&aggregator) {
        return Err(WeightingError::UnknownAggregator {
            name: aggregator.to_string(),
            known: surgery::NAMES.join(", "),
        });
    }
    if weighting == "none" || COMPOSE.contains(&aggregator) {
        return Ok(());
    }
    let reason = match aggregator {
        "cagrad" if !AUXILIARY_NAMES.contains(&weighting) => return Ok(()),
        "cagrad" => {
            "auxiliary weightings can give a task weight 0, and a zero row makes CAGrad's \
             worst-case improvement min_t g_t·d zero for every d, so its update vanishes; \
             use sum, mean, pcgrad, gradvac, graddrop, upgrad or dualproj"
        }
        "mgda" => {
            "MGDA's min-norm point inverts row scales (for orthogonal gradients a task's share \
             is 1/(w_t‖g_t‖²)) and a zero-weighted row makes the update zero"
        }
        "imtl-g" => {
            "IMTL-G equalises the projections on the unit gradients, so task weights only \
             rescale the whole update"
        }
        "nash-mtl" => "Nash-MTL is invariant to row scaling: task weights are undone exactly",
        "config" => {
            "ConFIG builds its direction from unit gradients, so task weights only change \
             the update's length"
        }
        "aligned-mtl" => {
            "Aligned-MTL equalises the singular values of the gradient matrix, which undoes \
             task weights (exactly for orthogonal gradients)"
        }
        _ => unreachable!("every aggregator in surgery::NAMES is classified"),
    };
    Err(WeightingError::Incompatible {
        weighting: weighting.to_string(),
        aggregator: aggregator.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::rows;
    use super::*;
    use crate::surgery::by_name as aggregator;

    #[test]
    fn every_pair_is_classified() {
        for w in NAMES {
            for a in surgery::NAMES {
                let _ = compatible(w, a);
            }
            assert!(compatible(w, "sum").is_ok());
        }
        for a in surgery::NAMES {
            assert!(compatible("none", a).is_ok(), "{a}");
        }
        assert!(compatible("famo", "cagrad").is_ok());
        let err = compatible("arml", "cagrad").err().unwrap();
        assert!(err.to_string().starts_with(
            "weighting `arml` does not compose with aggregator `cagrad`: auxiliary weightings"
        ));
        for a in ["mgda", "imtl-g", "nash-mtl", "config", "aligned-mtl"] {
            assert!(matches!(
                compatible("uncertainty", a),
                Err(WeightingError::Incompatible { .. })
            ));
        }
        assert!(matches!(
            compatible("dwa", "pcgard"),
            Err(WeightingError::UnknownAggregator { .. })
        ));
        assert!(matches!(
            compatible("dwb", "sum"),
            Err(WeightingError::UnknownWeighting { .. })
        ));
    }

    /// `A(D G)` for the aggregator `name`.
    fn weighted(name: &str, g: &tch::Tensor, w: &[f64]) -> Vec<f64> {
        let d = tch::Tensor::from_slice(w).to_kind(g.kind()).unsqueeze(1);
        let out = aggregator(name)
            .unwrap()
            .aggregate(&crate::surgery::GradMatrix::from(&(g * d)));
        Vec::<f64>::try_from(out.to_kind(tch::Kind::Double)).unwrap()
    }

    fn direction(v: &[f64]) -> Vec<f64> {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn the_rejected_aggregators_undo_or_invert_weights() {
        // Orthogonal rows, task 2 weighted ×4.
        let g = rows(&[&[1.0, 0.0], &[0.0, 1.0]]);
        let (plain, heavy) = ([1.0, 1.0], [1.0, 4.0]);
        for name in ["imtl-g", "nash-mtl", "config", "aligned-mtl"] {
            let (a, b) = (
                direction(&weighted(name, &g, &plain)),
                direction(&weighted(name, &g, &heavy)),
            );
            assert!(
                a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4),
                "{name}: {a:?} vs {b:?}"
            );
        }
        // MGDA: task 2's share goes *down* (1/w), and a zero row zeroes the update.
        let m = weighted("mgda", &g, &heavy);
        assert!(m[1] < m[0], "{m:?}");
        let zero = weighted("mgda", &g, &[1.0, 0.0]);
        assert!(zero.iter().all(|x| x.abs() < 1e-6), "{zero:?}");
        // CAGrad: a zero row zeroes the update.
        let zero = weighted("cagrad", &g, &[1.0, 0.0]);
        assert!(zero.iter().all(|x| x.abs() < 1e-6), "{zero:?}");
    }

    #[test]
    fn the_composing_aggregators_keep_the_weights() {
        // Rows at 120° (conflicting); weights (1, 3).
        let g = rows(&[&[1.0, 0.0], &[-0.5, 0.866_025_4]]);
        let w = [1.0, 3.0];
        // UPGrad, DualProj and PCGrad: the result conflicts with neither task and the heavier
        // task's directional derivative grows with its weight.
        for name in ["upgrad", "dualproj", "pcgrad"] {
            let (a, b) = (weighted(name, &g, &[1.0, 1.0]), weighted(name, &g, &w));
            let deriv = |v: &[f64], t: usize| {
                let row = [[1.0, 0.0], [-0.5, 0.866_025_4]][t];
                v[0] * row[0] + v[1] * row[1]
            };
            // (UPGrad and DualProj add a 1e-4 ridge: "no conflict" holds to about 1e-3.)
            assert!(
                deriv(&b, 0) >= -2e-3 && deriv(&b, 1) >= -2e-3,
                "{name}: {b:?}"
            );
            assert!(deriv(&b, 1) > deriv(&a, 1) + 0.1, "{name}: {a:?} → {b:?}");
        }
    }
}
