//! Device selection: the best accelerator this build and machine have.

use candle_core::Device;

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

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_builds_choose_the_cpu() {
        let d = super::best_device();
        if !cfg!(any(feature = "cuda", feature = "metal")) {
            assert!(d.is_cpu());
        }
    }
}
