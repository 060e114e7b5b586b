//! Convolutional stems for image observations (`Box` of shape `[H, W, C]`, channels last), and
//! the two ways image tasks share them:
//!
//! - [`ConvScheme::PerTask`]: each task has its own convolution, as the MinAtar paper's network
//!   (Young & Tian 2019, `examples/dqn.py`: 16 filters 3×3 stride 1, no padding, ReLU,
//!   flatten), feeding the shared fully connected trunk;
//! - [`ConvScheme::Adapter`]: each task has its own 1×1 convolution (a linear map of each
//!   cell's `C_t` channels to a common count `A`, no activation), then one convolution shared
//!   by all image tasks, ReLU, flatten, the shared trunk.
//!
//! A convolution runs as a linear layer on the input's patches (im2col): with `X` the
//! `[N·L, C·k·k]` patches of `N` images at `L` output positions, `Y = X Wᵀ + b`. Its weight
//! gradient for task `t` is then `dY_tᵀ X_t` over that task's patches — the per-task product of
//! a shared linear layer — so the shared convolution's per-task gradients come from the same
//! single backward pass as the trunk's.

use tch::{Device, Tensor};

/// The grid of an image observation: `[height, width, channels]`, channels last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Rows.
    pub height: i64,
    /// Columns.
    pub width: i64,
    /// Channels.
    pub channels: i64,
}

impl Grid {
    /// Values of one observation.
    pub fn len(&self) -> i64 {
        self.height * self.width * self.channels
    }

    /// Whether the grid holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How image tasks share their convolutional layers (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvScheme {
    /// A convolution per task.
    PerTask,
    /// A 1×1 adapter per task to `channels` channels, then one shared convolution.
    Adapter {
        /// The adapters' common output channel count `A`.
        channels: i64,
    },
}

/// The convolutional stems of image tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvConfig {
    /// How image tasks share them.
    pub scheme: ConvScheme,
    /// Output channels of the (per-task or shared) convolution.
    pub filters: i64,
    /// Side of its square kernel.
    pub kernel_size: i64,
    /// Its stride (no padding).
    pub stride: i64,
}

impl Default for ConvConfig {
    /// The MinAtar paper's network: one convolution per task, 16 filters 3×3, stride 1.
    fn default() -> Self {
        Self {
            scheme: ConvScheme::PerTask,
            filters: 16,
            kernel_size: 3,
            stride: 1,
        }
    }
}

impl ConvConfig {
    /// Width of the flattened features of an image on `grid`: `filters · H' · W'`, or `None`
    /// when the kernel does not fit in the grid.
    pub fn features(&self, grid: Grid) -> Option<i64> {
        let window = self.window(grid);
        (grid.height >= self.kernel_size && grid.width >= self.kernel_size)
            .then(|| self.filters * window.positions())
    }

    /// The convolution's window on an input `grid` (the adapted grid for the shared one).
    pub(crate) fn window(&self, grid: Grid) -> Window {
        Window {
            grid,
            kernel: self.kernel_size,
            stride: self.stride,
        }
    }
}

/// A convolution's input grid, kernel side and stride: the im2col geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub grid: Grid,
    pub kernel: i64,
    pub stride: i64,
}

impl Window {
    /// Output rows and columns.
    fn out_size(&self) -> [i64; 2] {
        let side = |n: i64| (n - self.kernel) / self.stride + 1;
        [side(self.grid.height), side(self.grid.width)]
    }

    /// Output positions `L = H' · W'`.
    pub(crate) fn positions(&self) -> i64 {
        let [h, w] = self.out_size();
        h * w
    }

    /// Length of one patch, `C · k · k`.
    pub(crate) fn patch_len(&self) -> i64 {
        self.grid.channels * self.kernel * self.kernel
    }

    /// Where each patch value comes from: entry `l·C·k·k + (c·k + i)·k + j` is the position in
    /// a flat channels-last image of channel `c` at row `i`, column `j` of output position
    /// `l`'s window. [`Window::patches`] and [`Window::fold`] gather and scatter through it.
    pub(crate) fn index(&self, device: Device) -> Tensor {
        let Grid {
            width, channels, ..
        } = self.grid;
        let [_, out_width] = self.out_size();
        let (k, s) = (self.kernel, self.stride);
        let mut index = Vec::with_capacity((self.positions() * self.patch_len()) as usize);
        for l in 0..self.positions() {
            let (top, left) = (l / out_width * s, l % out_width * s);
            for c in 0..channels {
                for i in 0..k {
                    for j in 0..k {
                        index.push(((top + i) * width + left + j) * channels + c);
                    }
                }
            }
        }
        Tensor::from_slice(&index).to_device(device)
    }

    /// The patches `[N·L, C·k·k]` of `x` `[N, H·W·C]` (channels last): row `n·L + l` is image
    /// `n`'s patch at output position `l` (row-major), in (channel, row, column) order as
    /// `torch.nn.functional.unfold`; `index` is [`Window::index`]. One gather: libtorch's
    /// `im2col` and the transposition after it cost more than ten times as much here.
    pub(crate) fn patches(&self, x: &Tensor, index: &Tensor) -> Tensor {
        let n = x.size()[0];
        x.index_select(1, index)
            .view([n * self.positions(), self.patch_len()])
    }

    /// The adjoint of [`Window::patches`]: the gradient `[N, H·W·C]` at the images from the
    /// gradient `dp` `[N·L, C·k·k]` at their patches (overlapping patches add).
    pub(crate) fn fold(&self, dp: &Tensor, index: &Tensor) -> Tensor {
        let n = dp.size()[0] / self.positions();
        let per_image = self.positions() * self.patch_len();
        let dx = Tensor::zeros([n, self.grid.len()], (dp.kind(), dp.device()));
        dx.index_add(1, index, &dp.view([n, per_image]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn window(height: i64, width: i64, channels: i64, kernel: i64, stride: i64) -> Window {
        let grid = Grid {
            height,
            width,
            channels,
        };
        Window {
            grid,
            kernel,
            stride,
        }
    }

    #[test]
    fn patches_times_weights_is_libtorchs_convolution() {
        tch::manual_seed(3);
        let f = (Kind::Float, Device::Cpu);
        for w in [
            window(10, 10, 4, 3, 1),
            window(7, 9, 3, 3, 2),
            window(5, 5, 2, 1, 1),
        ] {
            let (n, filters) = (3, 5);
            let x = Tensor::randn([n, w.grid.len()], f);
            let weight = Tensor::randn([filters, w.patch_len()], f);
            let bias = Tensor::randn([filters], f);
            let ours = w
                .patches(&x, &w.index(Device::Cpu))
                .linear(&weight, Some(&bias));
            let (k, s) = (w.kernel, w.stride);
            let nchw = x
                .view([n, w.grid.height, w.grid.width, w.grid.channels])
                .permute([0, 3, 1, 2]);
            let kernel = weight.view([filters, w.grid.channels, k, k]);
            let theirs = nchw
                .conv2d(&kernel, Some(&bias), [s, s], [0, 0], [1, 1], 1)
                .permute([0, 2, 3, 1])
                .reshape([n * w.positions(), filters]);
            let err = (ours - theirs).abs().max().double_value(&[]);
            assert!(err < 1e-4, "{w:?}: {err}");
        }
    }

    #[test]
    fn fold_is_the_adjoint_of_patches() {
        // ⟨patches(x), p⟩ = ⟨x, fold(p)⟩ for every x and p.
        tch::manual_seed(4);
        let f = (Kind::Double, Device::Cpu);
        for w in [window(10, 10, 4, 3, 1), window(7, 9, 3, 3, 2)] {
            let x = Tensor::randn([2, w.grid.len()], f);
            let p = Tensor::randn([2 * w.positions(), w.patch_len()], f);
            let index = w.index(Device::Cpu);
            let left = (w.patches(&x, &index) * &p)
                .sum(Kind::Double)
                .double_value(&[]);
            let right = (&x * w.fold(&p, &index))
                .sum(Kind::Double)
                .double_value(&[]);
            assert!((left - right).abs() < 1e-9 * left.abs().max(1.0), "{w:?}");
        }
    }

    #[test]
    fn the_minatar_network_has_1024_features_per_10_by_10_grid() {
        let grid = Grid {
            height: 10,
            width: 10,
            channels: 7,
        };
        assert_eq!(ConvConfig::default().features(grid), Some(16 * 8 * 8));
        let too_wide = ConvConfig {
            kernel_size: 11,
            ..ConvConfig::default()
        };
        assert_eq!(too_wide.features(grid), None);
    }
}
