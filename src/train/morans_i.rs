//! Local Moran's I maps of image observations: the targets of the `morans-i` auxiliary loss,
//! after SXL (Klemmer and Neill, "Auxiliary-task learning for geographic data with
//! autoregressive embeddings", SIGSPATIAL 2021; code: konstantinklemmer/sxl, `src/utils.py`,
//! `lw_tensor_local_moran`).
//!
//! For one channel of a grid, with `z` the values standardised by their mean and unbiased
//! standard deviation and `w_ij` binary queen contiguity (the up to 8 neighbours of a cell),
//! `I_i = (n − 1) z_i Σ_j w_ij z_j / Σ_j z_j²` (esda's `Moran_Local` with binary weights gives
//! the same values). A map without variance (constant) has no defined `I` and gives zeros,
//! as SXL's NaN-to-zero does. SXL then scales each map to `[−1, 1]` by its minimum and
//! maximum; a map whose values are all equal stays at zero.
//!
//! Multi-resolution: for a factor `f` the grid is first average-pooled over `f × f` blocks,
//! `I` computed on the pooled grid, and each pooled cell's value repeated over its block
//! (nearest upsampling), so every resolution's map has the observation's shape.

/// The shape of an image observation, stored row-major as `[height, width, channels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

impl Grid {
    /// Values of one observation.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Whether the grid holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reusable buffers for [`MoransI::maps`]: one pooled map, its standardised values and its
/// local statistics.
#[derive(Debug)]
pub struct MoransI {
    grid: Grid,
    resolutions: Vec<usize>,
    pooled: Vec<f64>,
    z: Vec<f64>,
    local: Vec<f64>,
}

impl MoransI {
    /// Maps of observations shaped `grid` at each factor of `resolutions` (each divides the
    /// grid's height and width; the config checks it).
    pub fn new(grid: Grid, resolutions: &[usize]) -> Self {
        let cells = grid.height * grid.width;
        Self {
            grid,
            resolutions: resolutions.to_vec(),
            pooled: Vec::with_capacity(cells),
            z: Vec::with_capacity(cells),
            local: Vec::with_capacity(cells),
        }
    }

    /// Values of one observation's maps: one observation's worth per resolution.
    pub fn outputs(&self) -> usize {
        self.resolutions.len() * self.grid.len()
    }

    /// Writes the scaled Moran's I maps of `obs` (one observation, `[H, W, C]` row-major)
    /// into `out`, resolution after resolution, each laid out as the observation.
    pub fn maps(&mut self, obs: &[f32], out: &mut [f32]) {
        let Grid {
            height,
            width,
            channels,
        } = self.grid;
        let size = self.grid.len();
        for (r, out) in out.chunks_exact_mut(size).enumerate() {
            let f = self.resolutions[r];
            let (h, w) = (height / f, width / f);
            for c in 0..channels {
                self.pool(obs, c, f);
                local_morans_i(&self.pooled, h, w, &mut self.z, &mut self.local);
                scale_to_unit(&mut self.local);
                for y in 0..height {
                    for x in 0..width {
                        let v = self.local[(y / f) * w + x / f];
                        out[(y * width + x) * channels + c] = v as f32;
                    }
                }
            }
        }
    }

    /// Channel `c` of `obs` averaged over `f × f` blocks, into `self.pooled`.
    fn pool(&mut self, obs: &[f32], c: usize, f: usize) {
        let Grid {
            height,
            width,
            channels,
        } = self.grid;
        let (h, w) = (height / f, width / f);
        self.pooled.clear();
        self.pooled.resize(h * w, 0.0);
        for y in 0..h * f {
            for x in 0..w * f {
                self.pooled[(y / f) * w + x / f] += obs[(y * width + x) * channels + c] as f64;
            }
        }
        let block = (f * f) as f64;
        self.pooled.iter_mut().for_each(|v| *v /= block);
    }
}

/// The local Moran's I of each cell of the `h × w` map `values` (row-major) with binary
/// queen contiguity, into `out` (see the module documentation), with `z` as scratch; zeros
/// for a map without variance or with fewer than two cells.
pub fn local_morans_i(values: &[f64], h: usize, w: usize, z: &mut Vec<f64>, out: &mut Vec<f64>) {
    let n = values.len();
    out.clear();
    out.resize(n, 0.0);
    if n < 2 {
        return;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = variance.sqrt();
    if std == 0.0 || !std.is_finite() {
        return;
    }
    z.clear();
    z.extend(values.iter().map(|v| (v - mean) / std));
    let den: f64 = z.iter().map(|v| v.powi(2)).sum();
    for y in 0..h {
        for x in 0..w {
            let mut lag = 0.0;
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    if (ny, nx) != (y, x) {
                        lag += z[ny * w + nx];
                    }
                }
            }
            out[y * w + x] = (n - 1) as f64 * z[y * w + x] * lag / den;
        }
    }
}

/// Scales `values` linearly so that their minimum is −1 and their maximum 1 (SXL's
/// `normal(·, min_val=-1)`); values that are all equal become zeros.
pub fn scale_to_unit(values: &mut [f64]) {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if max.partial_cmp(&min) != Some(std::cmp::Ordering::Greater) {
        values.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    values
        .iter_mut()
        .for_each(|v| *v = 2.0 * (*v - min) / (max - min) - 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkerboard_is_perfectly_dispersed_and_stripes_are_clustered() {
        // 3 × 3 checkerboard: every cell's rook neighbours differ, its diagonal ones agree.
        let board: Vec<f64> = (0..9).map(|i| (i % 2) as f64).collect();
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        local_morans_i(&board, 3, 3, &mut scratch, &mut out);
        // By hand: mean 4/9, the unbiased std; the centre (index 4, value 0) has its 4 rook
        // neighbours at 1 and its 4 diagonal ones at 0; the corner (value 0) has 2 at 1, 1 at 0.
        let mean = 4.0 / 9.0;
        let std = ((5.0 * mean * mean + 4.0 * (1.0 - mean) * (1.0 - mean)) / 8.0f64).sqrt();
        let z = |v: f64| (v - mean) / std;
        let den = 5.0 * z(0.0).powi(2) + 4.0 * z(1.0).powi(2);
        let centre = 8.0 * z(0.0) * (4.0 * z(1.0) + 4.0 * z(0.0)) / den;
        assert!((out[4] - centre).abs() < 1e-12, "{} vs {centre}", out[4]);
        let corner = 8.0 * z(0.0) * (2.0 * z(1.0) + z(0.0)) / den;
        assert!((out[0] - corner).abs() < 1e-12);
        // Two halves: every cell looks like its neighbours, so every I is positive.
        let halves: Vec<f64> = (0..16).map(|i| if i % 4 < 2 { 0.0 } else { 1.0 }).collect();
        local_morans_i(&halves, 4, 4, &mut scratch, &mut out);
        assert_eq!(out.len(), 16);
        assert!(out.iter().all(|&v| v > 0.0), "{out:?}");
    }

    #[test]
    fn local_i_equals_esdas_moran_local_with_binary_queen_weights() {
        // scripts/morans_i_fixture.py: esda.Moran_Local(y, lat2W(h, w, rook=False),
        // transformation="b", permutations=0).Is on four grids.
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/morans_i_esda.json")).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 4);
        let floats = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let (mut z, mut out) = (Vec::new(), Vec::new());
        for case in cases {
            let (h, w) = (
                case["height"].as_u64().unwrap(),
                case["width"].as_u64().unwrap(),
            );
            let expected = floats(&case["local_i"]);
            local_morans_i(
                &floats(&case["values"]),
                h as usize,
                w as usize,
                &mut z,
                &mut out,
            );
            assert_eq!(out.len(), expected.len());
            for (ours, theirs) in out.iter().zip(&expected) {
                assert!((ours - theirs).abs() < 1e-9, "{h}×{w}: {ours} vs {theirs}");
            }
        }
    }

    #[test]
    fn constant_and_tiny_maps_give_zeros() {
        let (mut z, mut out) = (Vec::new(), Vec::new());
        local_morans_i(&[3.0; 25], 5, 5, &mut z, &mut out);
        assert_eq!(out, vec![0.0; 25]);
        local_morans_i(&[3.0], 1, 1, &mut z, &mut out);
        assert_eq!(out, vec![0.0]);
        let mut values = vec![0.5; 4];
        scale_to_unit(&mut values);
        assert_eq!(values, vec![0.0; 4]);
        let mut values = vec![2.0, 4.0, 3.0];
        scale_to_unit(&mut values);
        assert_eq!(values, vec![-1.0, 1.0, 0.0]);
    }

    #[test]
    fn coarse_maps_repeat_over_their_blocks_and_match_a_pooled_grid() {
        let grid = Grid {
            height: 4,
            width: 4,
            channels: 2,
        };
        // Channel 0 varies, channel 1 is constant.
        let obs: Vec<f32> = (0..32)
            .map(|i| {
                if i % 2 == 0 {
                    ((i * 7) % 5) as f32
                } else {
                    1.0
                }
            })
            .collect();
        let mut maps = MoransI::new(grid, &[1, 2]);
        assert_eq!(maps.outputs(), 64);
        let mut out = vec![f32::NAN; 64];
        maps.maps(&obs, &mut out);
        assert!(out
            .iter()
            .all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
        let (full, coarse) = out.split_at(32);
        assert!(
            full.iter().skip(1).step_by(2).all(|&v| v == 0.0),
            "constant channel"
        );
        assert!(full.iter().step_by(2).any(|&v| v == 1.0) && full.contains(&-1.0));
        // The coarse map: pooled 2 × 2 grid of channel 0, its I scaled, repeated over blocks.
        let pooled: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .map(|&(by, bx)| {
                let cell = |y: usize, x: usize| obs[(y * 4 + x) * 2] as f64;
                (0..2)
                    .flat_map(|dy| (0..2).map(move |dx| (2 * by + dy, 2 * bx + dx)))
                    .map(|(y, x)| cell(y, x))
                    .sum::<f64>()
                    / 4.0
            })
            .collect();
        let mut expected = Vec::new();
        local_morans_i(&pooled, 2, 2, &mut Vec::new(), &mut expected);
        scale_to_unit(&mut expected);
        for y in 0..4 {
            for x in 0..4 {
                let v = coarse[(y * 4 + x) * 2];
                assert_eq!(v, expected[(y / 2) * 2 + x / 2] as f32, "({y}, {x})");
            }
        }
    }
}
