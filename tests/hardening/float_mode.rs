//! MXCSR (x86-64) after seq's calls: every kernel sets flush-to-zero for
//! itself and puts the register back, on the calling thread and on candle's
//! workers that ran part of it, and the workers (started by the first
//! kernel) keep the mode of the thread that started them. The check runs
//! in a child process, so that seq's kernel is the first to use candle's
//! pool whatever the other tests do.

use candle_core::{DType, Device, Tensor};
use seq::attention::{attention, AttnMask, AttnMasks};
use seq::conv::{Conv1d, Conv1dConfig, Padding};
use seq::core::{
    Activation, Dropout, Engine, LayerNorm, LayerNormConfig, Linear, LinearConfig, Mode, Module,
    Params, Seq,
};
use seq::recurrent::{Lstm, RecurrentConfig};

/// MXCSR's control bits: rounding, flush-to-zero, denormals-are-zero and
/// the exception masks (not the sticky exception flags, bits 0-5, which any
/// arithmetic sets).
#[cfg(target_arch = "x86_64")]
#[allow(deprecated)] // the intrinsic is the one way to read MXCSR without asm
fn mxcsr() -> u32 {
    // SAFETY: reading MXCSR has no preconditions on x86-64 (SSE is baseline).
    unsafe { std::arch::x86_64::_mm_getcsr() & !0x3f }
}

/// MXCSR on this thread and on each of candle's CPU workers (each runs the
/// probe once).
#[cfg(target_arch = "x86_64")]
fn every_thread() -> Vec<u32> {
    let seen = std::sync::Mutex::new(vec![mxcsr()]);
    candle_core::utils::barrier_pool().execute(|_| {
        seen.lock().unwrap().push(mxcsr());
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    seen.dedup();
    seen
}

/// Set in the child process: the test then runs the check itself.
const CHILD: &str = "SEQ_HARDENING_FLOAT_MODE_CHILD";

/// Forward and backward through each family of fused kernels.
fn seq_calls() -> seq::core::Result<()> {
    let dev = Device::Cpu;
    let params = Params::new(3);
    let vb = params.var_builder(DType::F32, &dev);
    let x = Seq::new(Tensor::randn(0f32, 1.0, (8, 12, 16), &dev)?)?;
    let lstm = Lstm::new(
        RecurrentConfig::new(16, 16).with_bidirectional(true),
        vb.pp("lstm"),
    )?;
    let conv = Conv1d::new(
        Conv1dConfig::new(16, 16, 3).with_padding(Padding::Same),
        vb.pp("conv"),
    )?;
    let norm = LayerNorm::new(
        LayerNormConfig::new(16).with_engine(Engine::Fused),
        vb.pp("norm"),
    )?;
    let fc = Linear::new(LinearConfig::new(32, 16), vb.pp("fc"))?;
    let h = lstm.forward(&x, Mode::Train)?;
    let h = fc.apply_activation(h.values(), Activation::Gelu)?;
    let h = norm.forward(&Seq::new(h)?, Mode::Train)?;
    let h = conv.forward(&h, Mode::Train)?.values().clone();
    let q = h.reshape((8, 12, 2, 8))?.transpose(1, 2)?;
    let causal = AttnMask::causal(12, 0, &dev)?;
    let dropout = Dropout::new(0.1, 4)?;
    let masks = AttnMasks::none().with_attn(Some(&causal));
    let a = attention(
        &q,
        &q,
        &q,
        masks,
        Some((&dropout, Mode::Train)),
        Engine::Fused,
    )?;
    a.sqr()?.sum_all()?.backward()?;
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[test]
fn mxcsr_is_the_same_after_seq_calls_on_every_thread() {
    if std::env::var_os(CHILD).is_none() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "float_mode::mxcsr_is_the_same_after_seq_calls_on_every_thread",
            ])
            .args(["--test-threads", "1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    // A fresh thread: the default mode, with no flushing; seq's kernel is
    // the first use of candle's pool in this process.
    std::thread::spawn(|| {
        let default = mxcsr();
        seq_calls().unwrap();
        assert_eq!(
            every_thread(),
            [default],
            "MXCSR of every thread after (sorted), against the default"
        );
    })
    .join()
    .unwrap();
}
