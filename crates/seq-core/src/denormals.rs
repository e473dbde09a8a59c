//! Flush-to-zero for subnormal floats inside seq's CPU kernels, on by
//! default, and nowhere else.
//!
//! Gradients that shrink through a long recurrent chain become subnormal
//! floats, which x86 CPUs process about 15 times slower than normal ones:
//! the first epochs of an LSTM then run several times slower for no gain
//! in accuracy. With flush-to-zero (FTZ) and denormals-are-zero (DAZ) set,
//! such values become 0, as PyTorch's `torch.set_flush_denormal(True)` does.
//!
//! The mode lives in a per-thread control register (MXCSR on x86-64, FPCR
//! on AArch64) that the host program's own code also runs under, and
//! changing it behind the back of code that does not expect it is undefined
//! behaviour in Rust's eyes. So seq never leaves it changed: each of its
//! kernels runs inside a [`FlushScope`], which sets the mode on entry and
//! puts the register back exactly as it was on exit, on the calling thread
//! and on every worker that runs part of the kernel. Code outside the
//! kernels (candle's own ops, the host program) runs in whatever mode the
//! host chose. [`set_flush_denormals`]`(false)` makes the scopes leave the
//! register alone. candle's workers are started before the first scope
//! changes the mode, so they keep the mode of the thread that started them.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Whether seq's kernels flush subnormal floats to zero (on by default).
pub fn set_flush_denormals(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether flushing inside seq's kernels is on.
pub fn flush_denormals() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The floating-point mode of one of seq's kernels on this thread: entered,
/// it flushes subnormals (when [`flush_denormals`] is on); dropped, it puts
/// the control register back as it found it.
#[must_use = "the mode is restored when the scope is dropped"]
pub struct FlushScope {
    saved: Option<Word>,
    // The register is per thread: the scope must end where it began.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl FlushScope {
    /// Enters the kernel's mode on this thread.
    pub fn enter() -> Self {
        let saved = flush_denormals().then(|| {
            // candle's CPU workers start on first use and inherit the
            // floating-point mode of the thread that starts them (POSIX
            // threads do): started inside a scope, they would flush for the
            // life of the process. So they start here, before the mode
            // changes (a no-op once they run).
            candle_core::utils::barrier_pool();
            let saved = read();
            let flushing = with_flush(saved);
            if flushing != saved {
                write(flushing);
            }
            saved
        });
        FlushScope {
            saved,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for FlushScope {
    fn drop(&mut self) {
        if let Some(saved) = self.saved {
            // The control bits as they were; the sticky exception flags the
            // kernel raised stay raised.
            let now = read();
            let restored = (now & STATUS) | (saved & !STATUS);
            if restored != now {
                write(restored);
            }
        }
    }
}

/// The control register's contents.
#[cfg(target_arch = "x86_64")]
type Word = u32;
#[cfg(target_arch = "aarch64")]
type Word = u64;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type Word = u32;

/// MXCSR's sticky exception flags (bits 0-5), which arithmetic sets.
#[cfg(target_arch = "x86_64")]
const STATUS: Word = 0x3f;
/// FPCR holds no status (FPSR does).
#[cfg(target_arch = "aarch64")]
const STATUS: Word = 0;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const STATUS: Word = 0;

/// MXCSR bits 15 (FTZ) and 6 (DAZ).
#[cfg(target_arch = "x86_64")]
fn with_flush(w: Word) -> Word {
    w | (1 << 15) | (1 << 6)
}

/// FPCR bit 24 (FZ).
#[cfg(target_arch = "aarch64")]
fn with_flush(w: Word) -> Word {
    w | (1 << 24)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn with_flush(w: Word) -> Word {
    w
}

/// This thread's MXCSR.
#[cfg(target_arch = "x86_64")]
pub(crate) fn read() -> Word {
    let mut csr: u32 = 0;
    // SAFETY: stmxcsr stores this thread's SSE control register into `csr`,
    // a valid, aligned u32 on our stack.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
    csr
}

/// Loads this thread's MXCSR.
#[cfg(target_arch = "x86_64")]
fn write(csr: Word) {
    // SAFETY: ldmxcsr loads this thread's SSE control register from `csr`;
    // the only bits seq changes (FTZ, DAZ) are valid in any combination, and
    // the value is one read from the register with those bits changed.
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly)) };
}

/// This thread's FPCR.
#[cfg(target_arch = "aarch64")]
pub(crate) fn read() -> Word {
    let fpcr: u64;
    // SAFETY: reads this thread's floating-point control register.
    unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
    fpcr
}

/// Writes this thread's FPCR.
#[cfg(target_arch = "aarch64")]
fn write(fpcr: Word) {
    // SAFETY: writes this thread's floating-point control register with a
    // value read from it and only the flush bit changed.
    unsafe { std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack)) };
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn read() -> Word {
    0
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn write(_: Word) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn subnormals_flush_inside_a_scope_only() {
        let tiny = f32::MIN_POSITIVE; // the smallest normal float
        std::thread::spawn(move || {
            let before = read();
            assert!(black_box(tiny) / black_box(4.0) > 0.0);
            {
                let _scope = FlushScope::enter();
                assert_eq!(black_box(tiny) / black_box(4.0), 0.0);
                {
                    let _inner = FlushScope::enter();
                }
                assert_eq!(black_box(tiny) / black_box(4.0), 0.0, "nested scopes");
            }
            assert!(black_box(tiny) / black_box(4.0) > 0.0);
            assert_eq!(read() & !STATUS, before & !STATUS);
        })
        .join()
        .unwrap();
    }
}
