//! Flush-to-zero for subnormal floats, on by default.
//!
//! Gradients that shrink through a long recurrent chain become subnormal
//! floats, which x86 CPUs process about 15 times slower than normal ones:
//! the first epochs of an LSTM then run several times slower for no gain
//! in accuracy. With flush-to-zero (FTZ) and denormals-are-zero (DAZ) set,
//! such values become 0, as PyTorch's `torch.set_flush_denormal(True)` does.
//!
//! seq's CPU kernels call [`ensure_flush_denormals`] on the thread they run
//! on, and the first call also sets the mode on candle's rayon workers.
//! [`set_flush_denormals`]`(false)` turns it off for everything after.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static ENABLED: AtomicBool = AtomicBool::new(true);
static WORKERS: Once = Once::new();

thread_local! {
    /// The mode this thread's control register holds, once set by seq.
    static APPLIED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Turns flushing of subnormal floats on (the default) or off, on this
/// thread and on the rayon workers now, and on any thread when seq's
/// kernels next run there.
pub fn set_flush_denormals(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
    apply(on);
    rayon::broadcast(|_| apply(on));
}

/// Whether flushing is on.
pub fn flush_denormals() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Brings this thread (and, the first time, the rayon workers) to the mode
/// chosen with [`set_flush_denormals`]. Cheap when nothing changes.
pub fn ensure_flush_denormals() {
    let on = flush_denormals();
    WORKERS.call_once(|| {
        rayon::broadcast(|_| apply(on));
    });
    if APPLIED.with(Cell::get) != Some(on) {
        apply(on);
    }
}

fn apply(on: bool) {
    set_mode(on);
    APPLIED.with(|a| a.set(Some(on)));
}

/// MXCSR bits 15 (FTZ) and 6 (DAZ).
#[cfg(target_arch = "x86_64")]
fn set_mode(on: bool) {
    let mut csr: u32 = 0;
    // SAFETY: stmxcsr/ldmxcsr read and write the SSE control register of
    // this thread only; the bits changed select rounding of subnormals.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
    let bits = (1 << 15) | (1 << 6);
    csr = if on { csr | bits } else { csr & !bits };
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack)) };
}

/// FPCR bit 24 (FZ).
#[cfg(target_arch = "aarch64")]
fn set_mode(on: bool) {
    let mut fpcr: u64;
    // SAFETY: reads and writes this thread's floating-point control register.
    unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
    fpcr = if on {
        fpcr | (1 << 24)
    } else {
        fpcr & !(1 << 24)
    };
    unsafe { std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack)) };
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn set_mode(_on: bool) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn subnormals_flush_to_zero_only_when_on() {
        let tiny = f32::MIN_POSITIVE; // the smallest normal float
        std::thread::spawn(move || {
            ensure_flush_denormals();
            assert_eq!(black_box(tiny) / black_box(4.0), 0.0);
            apply(false);
            assert!(black_box(tiny) / black_box(4.0) > 0.0);
        })
        .join()
        .unwrap();
    }
}
