//! The learner's CPU kernels — tanh, its backward pass, and the products of the stems and
//! the shared trunk — each in two implementations: libtorch's operations, and loops over host
//! memory (vectorised tanh, `matrixmultiply`'s products) that skip libtorch's per-call
//! dispatch and allocation and do not depend on the vendor-tuned paths of libtorch's CPU build.
//!
//! Which one runs is a [`KernelChoice`], one [`Backend`] per [`Kernel`]. Both compute the same
//! formulas (tanh to 2 ulp, products to rounding), tested against each other; the choice
//! changes results only in the last bits, but it does change them, so a run records its
//! choice and a resumed run reuses it. [`crate::calibrate`] times both at a network's shapes. On
//! CUDA every kernel is libtorch's whatever the choice.

pub(crate) mod layer;
pub(crate) mod tanh;

use serde::{Deserialize, Serialize};

/// Who computes a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Loops over host memory (`agents/src/host.rs`), on contiguous CPU `f32` tensors.
    Host,
    /// libtorch's tensor operations.
    Libtorch,
}

impl Backend {
    /// `host` or `libtorch`, as in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Libtorch => "libtorch",
        }
    }
}

/// The kernels that a [`KernelChoice`] assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// `tanh` of every hidden layer's output.
    Tanh,
    /// `dx = dy (1 − y²)` through every hidden layer's tanh.
    TanhBackward,
    /// `x Wᵀ + b` of the stems and the shared trunk, forward.
    Linear,
    /// The per-task weight gradients `dzᵀ x` (and bias sums) of the shared trunk.
    WeightGrad,
    /// The gradient at a trunk layer's input, `dz W`.
    InputGrad,
}

impl Kernel {
    /// Every kernel, in the order of [`KernelChoice`]'s fields.
    pub const ALL: [Kernel; 5] = [
        Self::Tanh,
        Self::TanhBackward,
        Self::Linear,
        Self::WeightGrad,
        Self::InputGrad,
    ];

    /// The kernel's key in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tanh => "tanh",
            Self::TanhBackward => "tanh_backward",
            Self::Linear => "linear",
            Self::WeightGrad => "weight_grad",
            Self::InputGrad => "input_grad",
        }
    }
}

/// Which [`Backend`] computes each [`Kernel`] on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelChoice {
    /// [`Kernel::Tanh`].
    pub tanh: Backend,
    /// [`Kernel::TanhBackward`].
    pub tanh_backward: Backend,
    /// [`Kernel::Linear`].
    pub linear: Backend,
    /// [`Kernel::WeightGrad`].
    pub weight_grad: Backend,
    /// [`Kernel::InputGrad`].
    pub input_grad: Backend,
}

impl KernelChoice {
    /// `backend` for every kernel.
    pub fn all(backend: Backend) -> Self {
        Self {
            tanh: backend,
            tanh_backward: backend,
            linear: backend,
            weight_grad: backend,
            input_grad: backend,
        }
    }

    /// The backend of `kernel`.
    pub fn get(&self, kernel: Kernel) -> Backend {
        match kernel {
            Kernel::Tanh => self.tanh,
            Kernel::TanhBackward => self.tanh_backward,
            Kernel::Linear => self.linear,
            Kernel::WeightGrad => self.weight_grad,
            Kernel::InputGrad => self.input_grad,
        }
    }

    /// Sets the backend of `kernel`.
    pub fn set(&mut self, kernel: Kernel, backend: Backend) {
        let field = match kernel {
            Kernel::Tanh => &mut self.tanh,
            Kernel::TanhBackward => &mut self.tanh_backward,
            Kernel::Linear => &mut self.linear,
            Kernel::WeightGrad => &mut self.weight_grad,
            Kernel::InputGrad => &mut self.input_grad,
        };
        *field = backend;
    }

    /// `tanh=host linear=libtorch …`, for logs and reports.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = Kernel::ALL
            .iter()
            .map(|&k| format!("{}={}", k.name(), self.get(k).name()))
            .collect();
        parts.join(" ")
    }
}

impl Default for KernelChoice {
    /// libtorch for every kernel: what a network did before the host kernels existed.
    fn default() -> Self {
        Self::all(Backend::Libtorch)
    }
}
