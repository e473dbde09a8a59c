//! The element types of the fused op and their gate nonlinearities.
//!
//! In f32, `exp` is Cephes' `expf` polynomial with the scaling by `2^n`
//! done on the bits, branch-free, so that the gate loops compile to vector
//! code (libm's scalar `expf`/`tanhf` were a third of an LSTM's time). Its
//! relative error is below 1e-7 where `exp` does not under- or overflow;
//! `sigmoid` and `tanh` built on it are within 2e-7 of the exact values.
//! In f64 (the gradient checks) the gates use the exact functions.

use std::sync::Mutex;

use candle_core::WithDType;
use num_traits::Float;

use super::scratch;

/// An element type of the fused op.
pub(crate) trait Real: Float + WithDType + Send + Sync + 'static {
    /// Whether the AVX2/FMA code paths apply (f32 on a CPU that has them).
    fn simd() -> bool;

    /// The [`scratch`] buffers of this type.
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;

    fn sigmoid(x: Self) -> Self;

    fn tanh_gate(x: Self) -> Self;
}

impl Real for f32 {
    fn pool() -> &'static Mutex<Vec<Vec<f32>>> {
        scratch::pool_f32()
    }

    fn simd() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp(-x))
    }

    #[inline(always)]
    fn tanh_gate(x: f32) -> f32 {
        2.0 / (1.0 + exp(-2.0 * x)) - 1.0
    }
}

impl Real for f64 {
    fn pool() -> &'static Mutex<Vec<Vec<f64>>> {
        scratch::pool_f64()
    }

    fn simd() -> bool {
        false
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

/// A block of the op's work, whose `run` is `#[inline(always)]` so that it
/// compiles for the CPU features [`run`] enables.
pub(crate) trait Job {
    fn run(self);
}

/// Runs the jobs on candle's CPU thread pool ([`seq_core::threads`]), each
/// compiled for AVX2 and FMA when `T::simd()` holds.
pub(crate) fn run_each<T: Real, J: Job + Send>(jobs: Vec<J>) {
    seq_core::threads::run_each(jobs, run::<T, J>);
}

/// Runs `job` compiled for AVX2 and FMA when `T::simd()` holds, else as is.
fn run<T: Real, J: Job>(job: J) {
    #[cfg(target_arch = "x86_64")]
    if T::simd() {
        // SAFETY: `simd()` checked that this CPU has AVX2 and FMA.
        return unsafe { run_simd(job) };
    }
    job.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_simd<J: Job>(job: J) {
    job.run()
}

/// `e^x` in f32: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7
/// polynomial for `e^r` (Cephes `expf`), and `2^n` written into the
/// exponent bits. Inputs are clamped to where the result is a normal float.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4; // ln 2 = LN2_HI + LN2_LO, LN2_HI exact in few bits
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // n + 127 in the low mantissa bits of a float in [2^23, 2^24), shifted
    // into the exponent field: the bits of 2^n.
    let two_n = f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23);
    e_r * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_gates_are_within_2e7_of_the_exact_functions() {
        let (mut exp_rel, mut sig_abs, mut tanh_abs) = (0.0f64, 0.0f64, 0.0f64);
        for i in -1_700_000..1_700_000 {
            let x = i as f32 * 5e-5; // [-85, 85]
            let xd = f64::from(x);
            exp_rel = exp_rel.max((f64::from(exp(x)) - xd.exp()).abs() / xd.exp());
            sig_abs = sig_abs.max((f64::from(f32::sigmoid(x)) - f64::sigmoid(xd)).abs());
            tanh_abs = tanh_abs.max((f64::from(f32::tanh_gate(x)) - xd.tanh()).abs());
        }
        assert!(exp_rel < 1e-7, "exp relative error {exp_rel:e}");
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
