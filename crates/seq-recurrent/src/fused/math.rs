//! The element types of the fused op and their gate nonlinearities.
//!
//! In f32, `exp` is seq-core's branch-free Cephes polynomial
//! ([`seq_core::cpu::exp_f32`]), so that the gate loops compile to vector
//! code (libm's scalar `expf`/`tanhf` were a third of an LSTM's time);
//! `sigmoid` and `tanh` built on it are within 2e-7 of the exact values.
//! The LSTM's forward step has its own vector code, the same polynomial
//! with fused products: AVX-512 ([`super::lstm_avx512`], products and
//! cell) where the CPU has it, else AVX2/FMA ([`super::lstm_avx2`], the
//! cell).
//! In f64 (the gradient checks) the gates use the exact functions.

use std::any::TypeId;
use std::sync::Mutex;

use seq_core::cpu::exp_f32;

use super::scratch;

/// An element type of the fused op: seq's kernel floats with the gates.
pub(crate) trait Real: seq_core::cpu::Float {
    /// The [`scratch`] buffers of this type.
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;

    fn sigmoid(x: Self) -> Self;

    fn tanh_gate(x: Self) -> Self;
}

impl Real for f32 {
    fn pool() -> &'static Mutex<Vec<Vec<f32>>> {
        scratch::pool_f32()
    }

    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp_f32(-x))
    }

    #[inline(always)]
    fn tanh_gate(x: f32) -> f32 {
        2.0 / (1.0 + exp_f32(-2.0 * x)) - 1.0
    }
}

impl Real for f64 {
    fn pool() -> &'static Mutex<Vec<Vec<f64>>> {
        scratch::pool_f64()
    }

    #[inline(always)]
    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[inline(always)]
    fn tanh_gate(x: f64) -> f64 {
        x.tanh()
    }
}

/// `s` as a slice of f32, when `T` is f32 (the AVX code paths are f32
/// only).
pub(crate) fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is f32, so `s` is a slice of f32 of the same length.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
}

/// [`as_f32`], mutable.
pub(crate) fn as_f32_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`; the borrow of `s` moves to the result.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_gates_are_within_2e7_of_the_exact_functions() {
        let (mut sig_abs, mut tanh_abs) = (0.0f64, 0.0f64);
        for i in -1_700_000..1_700_000 {
            let x = i as f32 * 5e-5; // [-85, 85]
            let xd = f64::from(x);
            sig_abs = sig_abs.max((f64::from(f32::sigmoid(x)) - f64::sigmoid(xd)).abs());
            tanh_abs = tanh_abs.max((f64::from(f32::tanh_gate(x)) - xd.tanh()).abs());
        }
        assert!(sig_abs < 2e-7, "sigmoid error {sig_abs:e}");
        assert!(tanh_abs < 2e-7, "tanh error {tanh_abs:e}");
        // Saturation: no NaN or infinity from large inputs.
        for x in [-1e30f32, -200.0, 200.0, 1e30] {
            assert!(f32::sigmoid(x).is_finite() && f32::tanh_gate(x).is_finite());
        }
        assert_eq!(f32::tanh_gate(1e30), 1.0);
        assert_eq!(f32::tanh_gate(-1e30), -1.0);
    }
}
