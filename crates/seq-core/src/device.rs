//! Device selection: the best accelerator this build and machine have, or
//! the one a user names.

use candle_core::{Device, DeviceLocation};

use crate::{Error, Result};

/// The device to run on: CUDA GPU 0 when built with the `cuda` feature and a
/// GPU answers, else the Metal GPU when built with `metal` and one answers,
/// else the CPU.
pub fn best_device() -> Device {
    if candle_core::utils::cuda_is_available() {
        if let Ok(d) = Device::new_cuda(0) {
            return d;
        }
    }
    if candle_core::utils::metal_is_available() {
        if let Ok(d) = Device::new_metal(0) {
            return d;
        }
    }
    Device::Cpu
}

/// The device `name` stands for: `auto` ([`best_device`]), `cpu`, `cuda`
/// or `cuda:N`, `metal` or `metal:N`. A GPU that this build (features
/// `cuda`, `metal`) or this machine lacks is an error naming it.
pub fn device(name: &str) -> Result<Device> {
    let (kind, ordinal) = match name.split_once(':') {
        Some((kind, n)) => {
            let n = n.parse::<usize>().map_err(|_| {
                Error::config(
                    "device",
                    format!("{name:?}: the GPU's number must be a whole number"),
                )
            })?;
            (kind, n)
        }
        None => (name, 0),
    };
    let unavailable = |e: candle_core::Error| {
        Error::config(
            "device",
            format!("{name}: not available in this build or on this machine ({e})"),
        )
    };
    match kind {
        "auto" if !name.contains(':') => Ok(best_device()),
        "cpu" if !name.contains(':') => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(ordinal).map_err(unavailable),
        "metal" => Device::new_metal(ordinal).map_err(unavailable),
        _ => Err(Error::config(
            "device",
            format!("{name:?}: one of auto, cpu, cuda, cuda:N, metal, metal:N"),
        )),
    }
}

/// The name [`device`] reads for `d`: `cpu`, `cuda:N` or `metal:N`.
pub fn device_name(d: &Device) -> String {
    match d.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{device, device_name};

    #[test]
    fn devices_are_named_and_missing_ones_are_errors() {
        assert!(device("cpu").unwrap().is_cpu());
        assert_eq!(device_name(&device("cpu").unwrap()), "cpu");
        let auto = device("auto").unwrap();
        assert_eq!(
            device(&device_name(&auto)).unwrap().location(),
            auto.location()
        );
        for bad in ["gpu", "cpu:1", "cuda:x", ""] {
            let err = device(bad).unwrap_err().to_string();
            assert!(err.contains("device"), "{bad}: {err}");
        }
        if !cfg!(feature = "cuda") {
            let err = device("cuda").unwrap_err().to_string();
            assert!(err.contains("cuda: not available"), "{err}");
        }
    }

    #[test]
    fn cpu_builds_choose_the_cpu() {
        let d = super::best_device();
        if !cfg!(any(feature = "cuda", feature = "metal")) {
            assert!(d.is_cpu());
        }
    }
}
