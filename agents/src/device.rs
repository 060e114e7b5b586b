//! Choosing the compute device. libtorch's CUDA support lives in `libtorch_cuda.so`, which
//! the linker leaves out of binaries that do not call into it directly; it is loaded here at
//! run time when a GPU is asked for, so CPU-only machines never need the CUDA libraries.

use std::str::FromStr;
use std::sync::OnceLock;

use tch::Device;

use crate::AgentError;

/// The device a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// The CPU.
    Cpu,
    /// The given CUDA device; an error if it is not available.
    Cuda(usize),
    /// CUDA device 0 when available, else the CPU.
    #[default]
    Auto,
}

impl FromStr for DeviceRequest {
    type Err = AgentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "auto" => Ok(Self::Auto),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| AgentError::UnknownDevice(s.to_string())),
        }
    }
}

/// Resolves `request` to a tch device, loading CUDA support first when needed.
///
/// Call it before any other libtorch call (seeding, creating tensors): libtorch caches its
/// CUDA hooks at first use, and a CUDA library loaded after that is not seen.
pub fn resolve(request: DeviceRequest) -> Result<Device, AgentError> {
    match request {
        DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Auto => Ok(match cuda_devices() {
            Ok(n) if n > 0 => Device::Cuda(0),
            _ => Device::Cpu,
        }),
        DeviceRequest::Cuda(index) => {
            let n = cuda_devices().map_err(|reason| AgentError::CudaUnavailable { reason })?;
            if index < n {
                Ok(Device::Cuda(index))
            } else {
                Err(AgentError::CudaUnavailable {
                    reason: format!("device cuda:{index} asked for, {n} CUDA device(s) found"),
                })
            }
        }
    }
}

/// The number of CUDA devices, after loading libtorch's CUDA library once.
fn cuda_devices() -> Result<usize, String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(load_torch_cuda).clone()?;
    Ok(tch::Cuda::device_count().max(0) as usize)
}

/// Loads `libtorch_cuda.so` from the libtorch folder known at build time, else from the
/// library search path (`LD_LIBRARY_PATH`, for a libtorch that has moved since the build).
fn load_torch_cuda() -> Result<(), String> {
    let built = option_env!("POLYTASK_LIBTORCH_LIB")
        .map(|dir| std::path::Path::new(dir).join("libtorch_cuda.so"));
    let candidates = built
        .into_iter()
        .chain([std::path::PathBuf::from("libtorch_cuda.so")]);
    let mut errors = Vec::new();
    for path in candidates {
        // SAFETY: loading libtorch's own CUDA library runs its static initialisers, which only
        // register CUDA hooks with the already loaded libtorch_cpu of the same build.
        match unsafe { libloading::Library::new(&path) } {
            Ok(lib) => {
                // Registered hooks point into the library: it must stay loaded for good.
                std::mem::forget(lib);
                return Ok(());
            }
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "cannot load libtorch_cuda.so ({}); libtorch was installed without CUDA: \
         reinstall it with POLYTASK_TORCH_CUDA=1",
        errors.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Cuda(3)
        );
        assert_eq!(
            "auto".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Auto
        );
        assert!("gpu".parse::<DeviceRequest>().is_err());
    }

    #[test]
    fn auto_falls_back_to_cpu_and_cuda_agrees_with_auto() {
        let auto = resolve(DeviceRequest::Auto).unwrap();
        match resolve(DeviceRequest::Cuda(0)) {
            Ok(device) => assert_eq!(device, auto),
            Err(AgentError::CudaUnavailable { .. }) => assert_eq!(auto, Device::Cpu),
            Err(other) => panic!("{other}"),
        }
        assert_eq!(resolve(DeviceRequest::Cpu).unwrap(), Device::Cpu);
    }
}
