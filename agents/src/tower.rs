//! The actor's and the critic's towers — each a stem per task (see `stem.rs`), the shared
//! convolution of image tasks under the adapter scheme, then tanh trunk layers shared by all
//! tasks — run together as one batched MLP: their weights stacked `[k, …]` (`k` = 2, or 1
//! with a shared critic), one batched product per layer for both. The stacked weights are
//! views of the network's flat parameter buffer, or (with gradient tracking on) stacks of the
//! parameter leaves, so that libtorch's graph reaches every parameter.
//!
//! [`TowerStack::backward`] computes the weight gradients by hand from the recorded
//! activations: per task for the shared trunk, directly for each task's stem.
//!
//! On the CPU each of their kernels — tanh, its backward pass, the products — runs as
//! libtorch's operation or as the host loop of [`crate::kernels`], as the network's
//! [`KernelChoice`] says.

use tch::{nn, Kind, Tensor};

use crate::host::Lease;
use crate::kernels::{layer, Backend, Kernel, KernelChoice};
use crate::linear::Linear;
use crate::profile::{self, Part};
use crate::stacked_linear::{tanh_backward, StackedLinear};
use crate::stem::{self, ImageInputs, Layout, SharedConvSlots, StemKind};

/// One tower: a stem per task, the shared convolution if any, then the shared trunk.
#[derive(Debug)]
pub(crate) struct Tower {
    stems: Vec<Linear>,
    conv: Option<Linear>,
    trunk: Vec<Linear>,
}

impl Tower {
    /// The layers of `layout`, orthogonal with gain √2.
    pub(crate) fn new(path: &nn::Path<'_>, layout: &Layout) -> Self {
        let gain = std::f64::consts::SQRT_2;
        let layer =
            |name: String, [out, inputs]: [i64; 2]| Linear::new(&(path / name), inputs, out, gain);
        let stems = (layout.stems.iter().enumerate())
            .map(|(t, &shape)| layer(format!("stem{t}"), shape))
            .collect();
        let conv = layout.conv.map(|shape| layer("conv".into(), shape));
        let trunk = (layout.widths.windows(2).enumerate())
            .map(|(i, w)| layer(format!("trunk{i}"), [w[1], w[0]]))
            .collect();
        Self { stems, conv, trunk }
    }

    /// Number of shared parameters: the shared convolution's, then the trunk's.
    pub(crate) fn shared_len(&self) -> i64 {
        self.shared_layers().map(Linear::numel).sum()
    }

    fn shared_layers(&self) -> impl Iterator<Item = &Linear> {
        self.conv.iter().chain(&self.trunk)
    }

    /// The shared convolution's weight and bias if any, then the trunk's, in order.
    pub(crate) fn shared_params(&self) -> Vec<&Tensor> {
        (self.shared_layers())
            .flat_map(|l| [&l.weight, &l.bias])
            .collect()
    }

    /// Whether the tower has a shared convolution.
    pub(crate) fn has_conv(&self) -> bool {
        self.conv.is_some()
    }

    pub(crate) fn stem_params(&self, t: usize) -> Vec<&Tensor> {
        vec![&self.stems[t].weight, &self.stems[t].bias]
    }

    /// The trunk's weights and biases, and each task's stem weight and bias, mutably.
    pub(crate) fn params_mut(&mut self) -> (Vec<&mut Tensor>, Vec<Vec<&mut Tensor>>) {
        let shared = (self.conv.iter_mut().chain(&mut self.trunk))
            .flat_map(|l| [&mut l.weight, &mut l.bias])
            .collect();
        let stems = self
            .stems
            .iter_mut()
            .map(|l| vec![&mut l.weight, &mut l.bias])
            .collect();
        (shared, stems)
    }
}

/// The towers run as one (see the module documentation).
#[derive(Debug)]
pub(crate) struct TowerStack {
    towers: Vec<Tower>,
    /// Each task's stem kind.
    kinds: Vec<StemKind>,
    /// The stems' output width, the trunk's input.
    stem_width: i64,
    /// Stacked views of the flat buffer per task's stem, for the shared convolution and per
    /// trunk layer (see [`TowerStack::bind`]).
    stems: Vec<StackedLinear>,
    conv: Option<StackedLinear>,
    trunk: Vec<StackedLinear>,
    /// Each image task's [`crate::conv::Window::index`], on the parameters' device.
    patch_index: Vec<Option<Tensor>>,
    /// Where task `t`'s stem of the first tower starts in the flat buffer.
    stem_offsets: Vec<i64>,
    /// Which implementation runs each CPU kernel.
    kernels: KernelChoice,
}

/// What the towers saw and produced on one batch: the stems' inputs, every activation, and
/// the task grouping of the rows.
#[derive(Debug)]
pub(crate) struct TowerTrace {
    /// Each task's stem input: its observations `[B_t, obs_dim_t]`, or an image stem's
    /// patches or cells (see [`ImageInputs`]).
    inputs: Vec<Tensor>,
    /// Each adapter task's input patches of the shared convolution.
    conv_inputs: Vec<Option<Tensor>>,
    /// `activations[0]` `[k, B, h1]` is the stems' output over all rows; `activations[i + 1]`
    /// is the output of trunk layer `i` (after tanh).
    activations: Vec<Tensor>,
    /// `features[c][t]`: tower `c`'s features `[B_t, width]` of task `t`'s rows.
    features: Vec<Vec<Tensor>>,
    rows: Vec<i64>,
}

impl TowerTrace {
    /// Tower `c`'s features `[B_t, width]` per task.
    pub(crate) fn features(&self, c: usize) -> &[Tensor] {
        &self.features[c]
    }

    /// Rows of each task.
    pub(crate) fn rows(&self) -> &[i64] {
        &self.rows
    }
}

/// Views of the gradient buffers where [`TowerStack::backward`] writes, made once for a
/// batch layout (see [`TowerStack::slots`]).
#[derive(Debug)]
pub(crate) struct TowerSlots {
    /// Per trunk layer, the per-task weight and bias gradients: for one task `[k, out, in]`
    /// and `[k, out]`; for equal shares `[k, T, out, in]` and `[k, T, out]`; else one pair
    /// per task.
    trunk: Vec<Vec<[Tensor; 2]>>,
    /// The per-task gradient matrix `[T, P]` that `trunk` views, and where each trunk
    /// layer's gradients sit in it, for the host kernels.
    shared: Tensor,
    trunk_places: Vec<layer::Placement>,
    /// Per task, where its stems' gradients go.
    stems: Vec<StemSlots>,
    /// Per task, where its gradient of the shared convolution goes (if the network has one).
    conv: Vec<SharedConvSlots>,
    /// Scratch for the backward pass, reused by every step: the gradient at each layer's
    /// output before tanh, `[k, B, width]` (the stems', then each trunk layer's).
    pre_activation: Vec<Tensor>,
    /// Scratch: the gradient at each trunk layer's input, `[k, B, in]`.
    inputs: Vec<Tensor>,
}

impl TowerStack {
    /// The towers (all of the same shapes) as one; [`TowerStack::bind`] must follow once the
    /// parameters live in the flat buffer.
    pub(crate) fn new(towers: Vec<Tower>, layout: &Layout, kernels: KernelChoice) -> Self {
        Self {
            towers,
            kinds: layout.kinds.clone(),
            stem_width: layout.widths[0],
            stems: Vec::new(),
            conv: None,
            trunk: Vec::new(),
            patch_index: Vec::new(),
            stem_offsets: Vec::new(),
            kernels,
        }
    }

    /// The towers, in order.
    pub(crate) fn towers(&self) -> &[Tower] {
        &self.towers
    }

    /// The towers, mutably.
    pub(crate) fn towers_mut(&mut self) -> &mut [Tower] {
        &mut self.towers
    }

    /// Makes the stacked views of `flat`, in which the towers' trunks come first, one after
    /// the other, and task `t`'s stems (one per tower, one after the other) start at
    /// `stem_offsets[t]`.
    pub(crate) fn bind(&mut self, flat: &Tensor, stem_offsets: Vec<i64>) {
        let k = self.towers.len() as i64;
        let first = &self.towers[0];
        let stride = first.shared_len();
        let mut offset = 0;
        self.patch_index = (self.kinds.iter())
            .map(|kind| Some(kind.window()?.index(flat.device())))
            .collect();
        self.conv = first.conv.as_ref().map(|l| {
            offset += l.numel();
            StackedLinear::view(flat, k, l.shape(), 0, stride)
        });
        self.trunk = first
            .trunk
            .iter()
            .map(|l| {
                let layer = StackedLinear::view(flat, k, l.shape(), offset, stride);
                offset += l.numel();
                layer
            })
            .collect();
        self.stems = first
            .stems
            .iter()
            .zip(&stem_offsets)
            .map(|(l, &offset)| StackedLinear::view(flat, k, l.shape(), offset, l.numel()))
            .collect();
        self.stem_offsets = stem_offsets;
    }

    /// The views of `shared` (the `[T, P]` per-task gradient matrix) and `flat` (laid out as
    /// the parameters) that [`TowerStack::backward`] writes into, for batches of `rows[t]`
    /// rows per task.
    pub(crate) fn slots(&self, shared: &Tensor, flat: &Tensor, rows: &[i64]) -> TowerSlots {
        let k = self.towers.len() as i64;
        let first = &self.towers[0];
        let slots = |offset| Slots {
            buffer: shared,
            towers: k,
            offset,
            tower_stride: first.shared_len(),
            task_stride: shared.size()[1],
        };
        let conv = (first.conv.iter())
            .flat_map(|l| {
                (0..rows.len() as i64).map(|t| {
                    let [weight, bias] = slots(0).task(l.shape(), t);
                    SharedConvSlots { weight, bias }
                })
            })
            .collect();
        let mut offset = first.conv.as_ref().map_or(0, Linear::numel);
        let (trunk, trunk_places) = first
            .trunk
            .iter()
            .map(|l| {
                let slots = slots(offset);
                offset += l.numel();
                (slots.views(l.shape(), rows), slots.placement())
            })
            .unzip();
        let batch = rows.iter().sum::<i64>();
        let scratch = |width: i64| Tensor::empty([k, batch, width], (Kind::Float, flat.device()));
        let widths = std::iter::once(self.stem_width);
        let pre_activation: Vec<Tensor> = widths
            .chain(first.trunk.iter().map(|l| l.shape()[0]))
            .map(scratch)
            .collect();
        let inputs = first.trunk.iter().map(|l| scratch(l.shape()[1])).collect();
        let mut start = 0;
        let stems = (first.stems.iter().zip(&self.stem_offsets).zip(rows))
            .zip(&self.kinds)
            .map(|(((l, &offset), &n), kind)| {
                let slots = Slots {
                    buffer: flat,
                    towers: k,
                    offset,
                    tower_stride: l.numel(),
                    task_stride: 0,
                };
                let [weight, bias] = slots.task(l.shape(), 0);
                let dz = match kind {
                    StemKind::Adapter { .. } => Vec::new(),
                    _ => (0..k)
                        .map(|c| pre_activation[0].get(c).narrow(0, start, n))
                        .map(|dz| dz.view([-1, l.shape()[0]]))
                        .collect(),
                };
                start += n;
                let [out, inputs] = l.shape();
                StemSlots {
                    weights: (0..k).map(|c| weight.get(c)).collect(),
                    biases: (0..k).map(|c| bias.get(c)).collect(),
                    dz,
                    transposed: Tensor::empty([inputs, out], (Kind::Float, flat.device())),
                }
            })
            .collect();
        TowerSlots {
            trunk,
            shared: shared.shallow_clone(),
            trunk_places,
            stems,
            conv,
            pre_activation,
            inputs,
        }
    }

    /// Runs the towers on one observation batch per task.
    pub(crate) fn forward(&self, obs: &[Tensor]) -> TowerTrace {
        let k = self.towers.len() as i64;
        let rows: Vec<i64> = obs.iter().map(|o| o.size()[0]).collect();
        let grad = crate::host::grad_enabled();
        // With gradient tracking, stacks of the parameter leaves.
        let stack = |layer: &dyn Fn(&Tower) -> &Linear| {
            let layers: Vec<&Linear> = self.towers.iter().map(layer).collect();
            StackedLinear::stack(&layers)
        };
        let stacked_conv = (grad && self.conv.is_some())
            .then(|| stack(&|w| w.conv.as_ref().expect("every tower has the convolution")));
        let conv = stacked_conv.as_ref().or(self.conv.as_ref());
        let mut inputs = Vec::with_capacity(obs.len());
        let mut conv_inputs = Vec::with_capacity(obs.len());
        let mut stemmed = Vec::with_capacity(obs.len());
        for (t, o) in obs.iter().enumerate() {
            let kind = self.kinds[t];
            let (h, image) = match (kind, grad) {
                // Each stem on its own, as the backward pass of a batched product would read
                // the shared input through a zero stride.
                (StemKind::Dense, true) => {
                    let towers: Vec<Tensor> = (self.towers.iter())
                        .map(|tower| tower.stems[t].forward(o).tanh())
                        .collect();
                    (Tensor::stack(&towers, 0), None)
                }
                (StemKind::Dense, false) => (self.stems[t].forward(o, true, &self.kernels), None),
                (_, grad) => {
                    let stacked;
                    let stem = match grad {
                        true => {
                            stacked = stack(&|w| &w.stems[t]);
                            &stacked
                        }
                        false => &self.stems[t],
                    };
                    let index = self.patch_index[t].as_ref().expect("an image task's index");
                    let (h, image) = stem::image_forward(kind, stem, conv, o, index);
                    (h, Some(image))
                }
            };
            stemmed.push(h);
            let image = image.unwrap_or(ImageInputs {
                stem: o.shallow_clone(),
                conv: None,
            });
            inputs.push(image.stem);
            conv_inputs.push(image.conv);
        }
        let stacked_trunk: Vec<StackedLinear>;
        let trunk = match grad {
            true => {
                stacked_trunk = (0..self.trunk.len())
                    .map(|i| stack(&|w| &w.trunk[i]))
                    .collect();
                &stacked_trunk
            }
            false => &self.trunk,
        };
        let mut h = match stemmed.len() {
            1 => stemmed.into_iter().next().expect("one task"),
            _ => Tensor::cat(&stemmed, 1),
        };
        let mut activations = Vec::with_capacity(trunk.len() + 1);
        for layer in trunk {
            let next = layer.forward(&h, false, &self.kernels);
            activations.push(std::mem::replace(&mut h, next));
        }
        let features = (0..k).map(|c| split_rows(&h.get(c), &rows)).collect();
        activations.push(h);
        TowerTrace {
            inputs,
            conv_inputs,
            activations,
            features,
            rows,
        }
    }

    /// Backpropagates `d_features` `[k, B, width]` (the gradient of `Σ_t L_t` at the towers'
    /// outputs, rows grouped by task as in `trace`) and writes the trunk's per-task weight
    /// gradients and the stems' gradients into `slots`.
    ///
    /// For a shared layer `z = x Wᵀ + b`, `∂L_t/∂W = Σ_{rows r of t} (∂L/∂z_r)ᵀ x_r` since
    /// `L_t` depends only on task `t`'s rows: one batched product over towers and tasks.
    pub(crate) fn backward(&self, trace: &TowerTrace, d_features: &Tensor, slots: &TowerSlots) {
        let kernels = &self.kernels;
        let through_tanh = |dz: &Tensor, dh: &Tensor, y: &Tensor| {
            let backend = kernels.get(Kernel::TanhBackward);
            profile::time(Part::Activations, || tanh_backward(dz, dh, y, backend));
        };
        let mut dh = d_features.shallow_clone();
        for (i, layer) in self.trunk.iter().enumerate().rev() {
            let (dz, input) = (&slots.pre_activation[i + 1], &slots.inputs[i]);
            through_tanh(dz, &dh, &trace.activations[i + 1]);
            profile::time(Part::Products, || {
                let grads = TrunkGrads {
                    views: &slots.trunk[i],
                    buffer: &slots.shared,
                    place: slots.trunk_places[i],
                };
                let backend = kernels.get(Kernel::WeightGrad);
                per_task_linear_grads(dz, &trace.activations[i], &trace.rows, grads, backend);
                layer.input_grads(dz, input, kernels.get(Kernel::InputGrad));
            });
            dh = input.shallow_clone();
        }
        let dz = &slots.pre_activation[0];
        match self.kinds.iter().all(|&kind| kind == StemKind::Dense) {
            true => through_tanh(dz, &dh, &trace.activations[0]),
            false => profile::time(Part::Activations, || {
                self.stem_activations_backward(dz, &dh, trace)
            }),
        }
        profile::time(Part::Products, || self.stem_grads(dz, trace, slots));
    }

    /// Writes into `dz` the gradient before each stem's activation (tanh or ReLU) from the
    /// gradient `dh` `[k, B, F]` after it.
    fn stem_activations_backward(&self, dz: &Tensor, dh: &Tensor, trace: &TowerTrace) {
        let mut start = 0;
        for (&kind, &n) in self.kinds.iter().zip(&trace.rows) {
            let rows = |x: &Tensor| x.narrow(1, start, n);
            let (dz, dh, y) = (rows(dz), rows(dh), rows(&trace.activations[0]));
            match kind {
                StemKind::Dense => tanh_backward(&dz, &dh, &y, Backend::Libtorch),
                _ => drop(y.threshold_backward_grad_input(&dz, &dh, 0.0)),
            }
            start += n;
        }
    }

    /// Writes each task's stem gradients, and each task's gradient of the shared convolution,
    /// into `slots`, from the gradient `dz` `[k, B, F]` before the stems' activations.
    fn stem_grads(&self, dz: &Tensor, trace: &TowerTrace, slots: &TowerSlots) {
        let mut start = 0;
        for (t, (&kind, &n)) in self.kinds.iter().zip(&trace.rows).enumerate() {
            let stem = &slots.stems[t];
            let input = &trace.inputs[t];
            match (kind, &self.conv) {
                (StemKind::Adapter { shared, .. }, Some(conv)) => {
                    let patches = trace.conv_inputs[t].as_ref().expect("adapter inputs");
                    let dy = dz.narrow(1, start, n);
                    let slots = &slots.conv[t];
                    let index = self.patch_index[t].as_ref().expect("an image task's index");
                    let inputs = [conv.weight(), patches, index];
                    let d_cells = stem::shared_conv_backward(shared, &dy, inputs, slots);
                    let per_tower: Vec<Tensor> =
                        (0..d_cells.size()[0]).map(|c| d_cells.get(c)).collect();
                    stem_weight_grads(&per_tower, input, stem, false);
                }
                _ => {
                    if let Some(conv) = slots.conv.get(t) {
                        let _ = (
                            conv.weight.shallow_clone().zero_(),
                            conv.bias.shallow_clone().zero_(),
                        );
                    }
                    stem_weight_grads(&stem.dz, input, stem, kind == StemKind::Dense);
                }
            }
            start += n;
        }
    }
}

/// Writes one task's stem gradients into `stem` from each tower's gradient `dz[c]`
/// `[rows, out]` at the stem layer's output and the layer's input `[rows, in]`; on the host
/// loop when `host` (a dense stem's few rows), else as libtorch's product (an image stem's
/// rows are every patch or cell of the batch).
fn stem_weight_grads(dz: &[Tensor], input: &Tensor, stem: &StemSlots, host: bool) {
    let on_host = host
        && (dz.iter().zip(&stem.weights).zip(&stem.biases)).all(|((dz, w), b)| {
            crate::linear::weight_grads_on_host(dz, input, [w, b], &stem.transposed)
        });
    if on_host {
        return;
    }
    // One product per tower: a batched one would read the shared input `[k, B, in]` through a
    // zero stride, which libtorch copies first.
    for ((dz, weight), bias) in dz.iter().zip(&stem.weights).zip(&stem.biases) {
        let _ = dz.tr().mm_out(weight, input);
        let _ = dz.sum_intlist_out(bias, [0i64].as_slice(), false, Kind::Float);
    }
}

/// Where one task's stem gradients go, with the views that the backward pass reads.
#[derive(Debug)]
struct StemSlots {
    /// Each tower's weight gradient `[out, in]`.
    weights: Vec<Tensor>,
    /// Each tower's bias gradient `[out]`.
    biases: Vec<Tensor>,
    /// Each tower's gradient at the stem layer's output before its activation, this task's
    /// rows `[B_t·L, out]` (views of the scratch buffer; empty for an adapter, whose gradient
    /// comes from the shared convolution's backward pass).
    dz: Vec<Tensor>,
    /// Scratch `[in, h1]` for [`crate::linear::weight_grads_on_host`].
    transposed: Tensor,
}

/// Where the gradients of one stacked layer go in `buffer`: tower `c`'s weight of task `t`
/// at `offset + c · tower_stride + t · task_stride`, its bias right after.
pub(crate) struct Slots<'a> {
    pub buffer: &'a Tensor,
    pub towers: i64,
    pub offset: i64,
    pub tower_stride: i64,
    pub task_stride: i64,
}

impl Slots<'_> {
    /// The views of a layer `[out, in]` for batches of `rows[t]` rows per task: one pair for
    /// all tasks when they have equal shares (one batched product), else one per task.
    pub(crate) fn views(&self, shape: [i64; 2], rows: &[i64]) -> Vec<[Tensor; 2]> {
        let tasks = rows.len() as i64;
        match tasks > 1 && rows.iter().all(|&n| n == rows[0]) {
            true => vec![self.all(shape, tasks)],
            false => (0..tasks).map(|t| self.task(shape, t)).collect(),
        }
    }

    /// The same places, as the host kernels read them.
    pub(crate) fn placement(&self) -> layer::Placement {
        layer::Placement {
            offset: self.offset as usize,
            tower_stride: self.tower_stride as usize,
            task_stride: self.task_stride as usize,
        }
    }

    /// Task `t`'s views: weights `[k, out, in]`, biases `[k, out]`.
    pub(crate) fn task(&self, [out, inputs]: [i64; 2], t: i64) -> [Tensor; 2] {
        let (k, offset) = (self.towers, self.offset + t * self.task_stride);
        [
            (self.buffer).as_strided([k, out, inputs], [self.tower_stride, inputs, 1], offset),
            (self.buffer).as_strided([k, out], [self.tower_stride, 1], offset + out * inputs),
        ]
    }

    /// Every task's views: weights `[k, T, out, in]`, biases `[k, T, out]`.
    pub(crate) fn all(&self, [out, inputs]: [i64; 2], tasks: i64) -> [Tensor; 2] {
        let (k, offset) = (self.towers, self.offset);
        let (tower, task) = (self.tower_stride, self.task_stride);
        [
            (self.buffer).as_strided([k, tasks, out, inputs], [tower, task, inputs, 1], offset),
            (self.buffer).as_strided([k, tasks, out], [tower, task, 1], offset + out * inputs),
        ]
    }
}

/// Where a trunk layer's per-task gradients go: the views made by [`TowerStack::slots`], and
/// the same places in the gradient matrix for the host kernel.
pub(crate) struct TrunkGrads<'a> {
    pub views: &'a [[Tensor; 2]],
    pub buffer: &'a Tensor,
    pub place: layer::Placement,
}

/// Writes the per-task gradients of a stacked linear layer into `grads`, from the gradient
/// `dz` `[k, B, out]` at its output and its input `x` `[k, B, in]`, rows grouped by task
/// (`rows[t]` each): `∂L_t/∂W = dz_tᵀ x_t`, `∂L_t/∂b = Σ_rows dz_t`.
pub(crate) fn per_task_linear_grads(
    dz: &Tensor,
    x: &Tensor,
    rows: &[i64],
    grads: TrunkGrads<'_>,
    backend: Backend,
) {
    let on_host = || {
        let lease = Lease::take()?;
        let (dz_rows, x_rows) = (lease.read(dz)?, lease.read(x)?);
        let size = dz.size();
        let shape = layer::Shape {
            towers: size[0] as usize,
            out: size[2] as usize,
            inputs: x.size()[2] as usize,
        };
        let buffer = lease.write(grads.buffer)?;
        layer::weight_grads(dz_rows, x_rows, rows, shape, grads.place, buffer);
        Some(())
    };
    if backend == Backend::Host && on_host().is_some() {
        return;
    }
    let tasks = rows.len() as i64;
    let dims = [1i64].as_slice();
    match grads.views {
        [[weight, bias]] if tasks == 1 => {
            let _ = dz.transpose(1, 2).bmm_out(weight, x);
            let _ = dz.sum_intlist_out(bias, dims, false, Kind::Float);
        }
        [[weight, bias]] => {
            // Equal shares: one batched product over [k·T, n, ·] views.
            let size = weight.size();
            let (k, n, out, inputs) = (size[0], rows[0], size[2], size[3]);
            let dz = dz.view([k, tasks, n, out]);
            let x = x.view([k * tasks, n, inputs]);
            let product = dz.view([k * tasks, n, out]).transpose(1, 2).bmm(&x);
            weight
                .shallow_clone()
                .copy_(&product.view([k, tasks, out, inputs]));
            let _ = dz.sum_intlist_out(bias, [2i64].as_slice(), false, Kind::Float);
        }
        _ => {
            let mut start = 0;
            for (&n, [weight, bias]) in rows.iter().zip(grads.views) {
                let (dz, x) = (dz.narrow(1, start, n), x.narrow(1, start, n));
                let _ = dz.transpose(1, 2).bmm_out(weight, &x);
                let _ = dz.sum_intlist_out(bias, dims, false, Kind::Float);
                start += n;
            }
        }
    }
}

/// Each task's rows of `x` (no copy; `x` itself for one task).
fn split_rows(x: &Tensor, rows: &[i64]) -> Vec<Tensor> {
    if rows.len() == 1 {
        vec![x.shallow_clone()]
    } else {
        x.split_with_sizes(rows, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacked_linear::tanh_;
    use tch::Device;

    /// The largest `|a − b|` over the largest `|b|`.
    fn relative(a: &Tensor, b: &Tensor) -> f64 {
        let scale = b.abs().max().double_value(&[]).max(1e-30);
        (a - b).abs().max().double_value(&[]) / scale
    }

    #[test]
    fn host_products_and_tanh_match_libtorchs_to_1e5_relative() {
        let f = (Kind::Float, Device::Cpu);
        tch::manual_seed(12);
        for (k, rows, inputs, out) in [
            (2i64, vec![37i64], 19i64, 23i64),
            (1, vec![8, 8, 8], 64, 64),
            (2, vec![5, 0, 11], 4, 16),
        ] {
            let stride = out * inputs + out;
            let flat = Tensor::randn([k * stride + 3], f);
            let layer = StackedLinear::view(&flat, k, [out, inputs], 3, stride);
            let batch: i64 = rows.iter().sum();
            let x = Tensor::randn([k, batch, inputs], f);
            let shared_x = Tensor::randn([batch, inputs], f);
            let dz = Tensor::randn([k, batch, out], f);
            let run = |backend: Backend| {
                let z = layer.product(&x, false, backend);
                let z_shared = layer.product(&shared_x, true, backend);
                let mut activated = z.copy();
                tanh_(&mut activated, backend);
                let dx = Tensor::zeros([k, batch, inputs], f);
                layer.input_grads(&dz, &dx, backend);
                let tasks = rows.len() as i64;
                let grads = Tensor::zeros([tasks, k * stride], f);
                let slots = Slots {
                    buffer: &grads,
                    towers: k,
                    offset: 0,
                    tower_stride: stride,
                    task_stride: k * stride,
                };
                let views = slots.views([out, inputs], &rows);
                let trunk = TrunkGrads {
                    views: &views,
                    buffer: &grads,
                    place: slots.placement(),
                };
                per_task_linear_grads(&dz, &x, &rows, trunk, backend);
                [z, z_shared, activated, dx, grads]
            };
            let calls = layer::CALLS.get();
            let host = tch::no_grad(|| run(Backend::Host));
            // Two forward products, the input and the weight gradients, all on the host: no
            // loan was refused.
            assert_eq!(layer::CALLS.get(), calls + 4);
            let reference = tch::no_grad(|| run(Backend::Libtorch));
            assert_eq!(layer::CALLS.get(), calls + 4);
            let names = [
                "linear",
                "linear, shared input",
                "tanh",
                "input_grad",
                "weight_grad",
            ];
            for ((name, a), b) in names.iter().zip(&host).zip(&reference) {
                let err = relative(a, b);
                assert!(err < 1e-5, "{name} ({k}, {rows:?}, {inputs}, {out}): {err}");
            }
        }
    }
}
