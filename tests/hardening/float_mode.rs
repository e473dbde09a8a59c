//! MXCSR (x86-64) after seq's calls: every kernel sets flush-to-zero for
//! itself and puts the register back, on the calling thread and on candle's
//! workers that ran part of it.

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

/// MXCSR on this thread and on each of candle's CPU workers.
#[cfg(target_arch = "x86_64")]
fn every_thread() -> Vec<u32> {
    let pool = candle_core::utils::barrier_pool();
    let seen = std::sync::Mutex::new(vec![mxcsr()]);
    pool.execute_chunked(pool.n_workers() + 1, |_| {
        seen.lock().unwrap().push(mxcsr());
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    seen.dedup();
    seen
}

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
    // A fresh thread: the default mode, with no flushing.
    std::thread::spawn(|| {
        let before = every_thread();
        seq_calls().unwrap();
        assert_eq!(
            every_thread(),
            before,
            "MXCSR before and after (sorted, per thread)"
        );
    })
    .join()
    .unwrap();
}
