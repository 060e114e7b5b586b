//! Each task's input stem — what maps its observation to the shared trunk's input — and, for
//! image tasks, the convolutions of `conv.rs`: the forward pass of an image stem and its
//! backward pass into the per-task gradients.
//!
//! A network without image tasks has dense stems `Linear(obs_dim → hidden[0])` + tanh and a
//! trunk `hidden[0] → hidden[1] → …`. A network with image tasks has a trunk
//! `F → hidden[0] → hidden[1] → …`, `F` the flattened convolution features (equal for every
//! image task): image stems are convolutions, and dense stems map to `F`.

use tch::{Kind, Tensor};

use crate::conv::{ConvScheme, Grid, Window};
use crate::kernels::Backend;
use crate::profile::{self, Part};
use crate::stacked_linear::StackedLinear;
use crate::task_shape::{NetConfig, TaskShape};

/// What a task's stem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StemKind {
    /// `Linear(obs_dim → F)`, tanh.
    Dense,
    /// The task's own convolution on `Window`, ReLU, flattened.
    Conv(Window),
    /// The task's 1×1 adapter on the cells of `grid`, into the shared convolution on `shared`
    /// (whose grid has the adapted channels), ReLU, flattened.
    Adapter {
        /// The task's observation grid.
        grid: Grid,
        /// The shared convolution's window.
        shared: Window,
    },
}

/// The network's layer shapes for a task list: each task's stem, the shared convolution of the
/// adapter scheme, the trunk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Each task's stem kind.
    pub kinds: Vec<StemKind>,
    /// Each task's stem layer `[out, in]`.
    pub stems: Vec<[i64; 2]>,
    /// The shared convolution `[filters, A·k·k]`, for the adapter scheme with image tasks.
    pub conv: Option<[i64; 2]>,
    /// The trunk's widths, its input first.
    pub widths: Vec<i64>,
}

impl Layout {
    /// The layout for `tasks` under `config`.
    ///
    /// # Panics
    /// If image tasks' convolutions give features of different widths, or a kernel does not fit
    /// a grid: the trainer checks both first.
    pub(crate) fn new(tasks: &[TaskShape], config: &NetConfig) -> Self {
        let conv = &config.conv;
        let features: Vec<i64> = (tasks.iter().filter_map(|t| t.grid))
            .map(|grid| {
                let grid = match conv.scheme {
                    ConvScheme::PerTask => grid,
                    ConvScheme::Adapter { channels } => Grid { channels, ..grid },
                };
                conv.features(grid).expect("the kernel fits the grid")
            })
            .collect();
        assert!(
            features.windows(2).all(|w| w[0] == w[1]),
            "image tasks' features differ in width: {features:?}"
        );
        let mut widths = config.hidden.clone();
        if let Some(&f) = features.first() {
            widths.insert(0, f);
        }
        let kinds: Vec<StemKind> = tasks
            .iter()
            .map(|task| match (task.grid, conv.scheme) {
                (None, _) => StemKind::Dense,
                (Some(grid), ConvScheme::PerTask) => StemKind::Conv(conv.window(grid)),
                (Some(grid), ConvScheme::Adapter { channels }) => StemKind::Adapter {
                    grid,
                    shared: conv.window(Grid { channels, ..grid }),
                },
            })
            .collect();
        let stems = tasks
            .iter()
            .zip(&kinds)
            .map(|(task, kind)| match kind {
                StemKind::Dense => [widths[0], task.obs_dim],
                StemKind::Conv(window) => [conv.filters, window.patch_len()],
                StemKind::Adapter { grid, shared } => [shared.grid.channels, grid.channels],
            })
            .collect();
        let adapted = kinds.iter().find_map(|kind| match kind {
            StemKind::Adapter { shared, .. } => Some([conv.filters, shared.patch_len()]),
            _ => None,
        });
        Self {
            kinds,
            stems,
            conv: adapted,
            widths,
        }
    }
}

impl StemKind {
    /// The convolution's window (the task's own, or the shared one) of an image stem.
    pub(crate) fn window(&self) -> Option<Window> {
        match *self {
            Self::Dense => None,
            Self::Conv(window) | Self::Adapter { shared: window, .. } => Some(window),
        }
    }
}

/// What an image stem saw: its layer's input rows, and the shared convolution's input.
#[derive(Debug)]
pub(crate) struct ImageInputs {
    /// The stem layer's input: patches `[B_t·L, C·k·k]` (own convolution) or cells
    /// `[B_t·H·W, C]` (adapter).
    pub stem: Tensor,
    /// The shared convolution's input patches `[k, B_t·L, A·k·k]` (adapter).
    pub conv: Option<Tensor>,
}

/// An image stem's output `[k, B_t, F]` (after ReLU) on `obs` `[B_t, H·W·C]`, and its inputs.
///
/// `stem` is the task's stacked stem layers, `conv` the stacked shared convolution, `index`
/// the convolution's [`Window::index`].
pub(crate) fn image_forward(
    kind: StemKind,
    stem: &StackedLinear,
    conv: Option<&StackedLinear>,
    obs: &Tensor,
    index: &Tensor,
) -> (Tensor, ImageInputs) {
    let n = obs.size()[0];
    let (mut y, inputs, positions) = match kind {
        StemKind::Dense => unreachable!("a dense stem is not an image stem"),
        StemKind::Conv(window) => {
            let patches = window.patches(obs, index);
            let y = product(stem, &patches, true);
            let inputs = ImageInputs {
                stem: patches,
                conv: None,
            };
            (y, inputs, window.positions())
        }
        StemKind::Adapter { grid, shared } => {
            let cells = obs.view([n * grid.height * grid.width, grid.channels]);
            let adapted = product(stem, &cells, true);
            let k = adapted.size()[0];
            let patches = (shared.patches(&adapted.view([k * n, shared.grid.len()]), index))
                .view([k, n * shared.positions(), shared.patch_len()]);
            let conv = conv.expect("an adapter stem has a shared convolution");
            let y = product(conv, &patches, false);
            let inputs = ImageInputs {
                stem: cells,
                conv: Some(patches),
            };
            (y, inputs, shared.positions())
        }
    };
    let size = y.size();
    profile::time(Part::Activations, || drop(y.relu_()));
    (y.view([size[0], n, positions * size[2]]), inputs)
}

/// `x Wᵀ + b` for each stacked layer, timed as a product.
fn product(layer: &StackedLinear, x: &Tensor, shared_input: bool) -> Tensor {
    profile::time(Part::Products, || {
        layer.product(x, shared_input, Backend::Libtorch)
    })
}

/// Where an adapter task's gradients of the shared convolution go: its weight `[k, f, A·k·k]`
/// and bias `[k, f]` in its row of the per-task gradient matrix.
#[derive(Debug)]
pub(crate) struct SharedConvSlots {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// The backward pass of an adapter task's shared convolution: from `dy` `[k, B_t, F]` at its
/// output (after the ReLU's backward pass), writes the task's gradient of the shared
/// convolution into `slots` and returns the gradient `[k, B_t·H·W, A]` at the adapters'
/// output.
///
/// `weight` is the stacked shared convolution `[k, f, A·k·k]`, `patches` its input, `index`
/// its [`Window::index`].
pub(crate) fn shared_conv_backward(
    shared: Window,
    dy: &Tensor,
    [weight, patches, index]: [&Tensor; 3],
    slots: &SharedConvSlots,
) -> Tensor {
    let size = dy.size();
    let (k, n) = (size[0], size[1]);
    let filters = weight.size()[1];
    let dy = dy.view([k, n * shared.positions(), filters]);
    let _ = dy.transpose(1, 2).bmm_out(&slots.weight, patches);
    let _ = dy.sum_intlist_out(&slots.bias, [1i64].as_slice(), false, Kind::Float);
    let dp = dy.bmm(weight);
    let rows = k * n * shared.positions();
    let cells = shared.grid.height * shared.grid.width;
    (shared.fold(&dp.view([rows, shared.patch_len()]), index)).view([
        k,
        n * cells,
        shared.grid.channels,
    ])
}
