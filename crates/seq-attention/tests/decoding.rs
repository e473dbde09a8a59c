//! Autoregressive decoding: the KV cache changes nothing but the cost, beam
//! width 1 is greedy, and a small model learns to reverse sequences.

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use seq_attention::{
    MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, TransformerConfig,
    TransformerLayerConfig, TransformerSeq2Seq, TransformerSeq2SeqConfig,
};
use seq_core::beam::BeamConfig;
use seq_core::{Mode, Params, Result, Rng};

fn model(seed: u64, dtype: DType) -> (Params, TransformerSeq2Seq) {
    let p = Params::new(seed);
    let layer = TransformerLayerConfig::new(32, 4)
        .with_feedforward(64)
        .with_dropout(0.0, 0);
    let t = TransformerConfig::new(32, 4)
        .with_layer(layer)
        .with_layers(2, 2);
    let cfg = TransformerSeq2SeqConfig::new(10, 10, t).with_max_len(64);
    let m = TransformerSeq2Seq::new(cfg, p.var_builder(dtype, &Device::Cpu)).unwrap();
    (p, m)
}

fn pad(rows: &[Vec<u32>]) -> Tensor {
    let t = rows.iter().map(Vec::len).max().unwrap_or(1);
    let flat: Vec<u32> = rows
        .iter()
        .flat_map(|r| r.iter().copied().chain(std::iter::repeat(0)).take(t))
        .collect();
    Tensor::from_vec(flat, (rows.len(), t), &Device::Cpu).unwrap()
}

fn sample(rng: &mut Rng, n: usize) -> Vec<Vec<u32>> {
    (0..n)
        .map(|_| {
            (0..2 + rng.below(4))
                .map(|_| 3 + rng.below(7) as u32)
                .collect()
        })
        .collect()
}

#[test]
fn the_kv_cache_gives_the_tokens_and_scores_of_recomputation() -> Result<()> {
    let (_, m) = model(1, DType::F64);
    let src = pad(&sample(&mut Rng::new(2), 4));
    let cached = m.greedy(&src, 1, 2, 12, true)?;
    let recomputed = m.greedy(&src, 1, 2, 12, false)?;
    for (a, b) in cached.iter().zip(&recomputed) {
        assert_eq!(a.tokens, b.tokens);
        assert!(
            (a.score - b.score).abs() < 1e-5,
            "{} vs {}",
            a.score,
            b.score
        );
    }
    Ok(())
}

/// Cached self-attention, a few steps at a time, equals causal attention
/// over the whole sequence: 70 steps, so the cache's buffers grow three
/// times (16, 32, 64, 128 steps) while decoding.
#[test]
fn cached_attention_equals_causal_attention() -> Result<()> {
    let p = Params::new(3);
    let mha = MultiHeadAttention::new(
        MultiHeadAttentionConfig::new(8, 2).with_rotary(80),
        p.var_builder(DType::F64, &Device::Cpu),
    )?;
    let t = 70;
    let x = Tensor::randn(0f64, 1.0, (2, t, 8), &Device::Cpu)?;
    let causal = seq_attention::AttnMask::causal(t, 0, &Device::Cpu)?;
    let input = MhaInput::self_attn(&x).with_attn_mask(&causal);
    let full = mha.forward(input, Mode::Eval)?.output;
    let mut cache = seq_attention::KvCache::default();
    let mut steps = Vec::new();
    // Mostly one step at a time; a block of 5 straddles a growth.
    let mut at = 0;
    while at < t {
        let n = if (14..19).contains(&at) { 5 } else { 1 };
        steps.push(
            mha.forward_cached(&x.narrow(1, at, n)?, &mut cache, Mode::Eval)?
                .0,
        );
        at += n;
    }
    assert_eq!(cache.len(), t);
    let stepped = Tensor::cat(&steps, 1)?;
    let diff = (full - stepped)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()?;
    assert!(diff < 1e-12, "{diff}");
    Ok(())
}

#[test]
fn beam_search_of_width_one_is_greedy() -> Result<()> {
    let (_, m) = model(4, DType::F32);
    let src = pad(&sample(&mut Rng::new(5), 6));
    let greedy = m.greedy(&src, 1, 2, 10, true)?;
    let beam = m.beam(&src, &BeamConfig::new(1, 2, 10, 1).with_alpha(0.6))?;
    for (g, b) in greedy.iter().zip(&beam) {
        assert_eq!(g.tokens, b.tokens);
        assert!((g.score - b.score).abs() < 1e-4);
    }
    // A wider beam never finds a worse raw score than greedy when both end (alpha 0).
    let wide = m.beam(&src, &BeamConfig::new(1, 2, 10, 4))?;
    assert_eq!(wide.len(), 6);
    Ok(())
}

#[test]
fn a_small_transformer_learns_to_reverse() -> Result<()> {
    let (bos, eos) = (1u32, 2u32);
    let (p, m) = model(6, DType::F32);
    let mut opt = AdamW::new(
        p.varmap().all_vars(),
        ParamsAdamW {
            lr: 3e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut rng = Rng::new(7);
    for _ in 0..300 {
        let src = sample(&mut rng, 32);
        let tgt_in: Vec<Vec<u32>> = src
            .iter()
            .map(|s| {
                std::iter::once(bos)
                    .chain(s.iter().rev().copied())
                    .collect()
            })
            .collect();
        let tgt_out: Vec<Vec<u32>> = src
            .iter()
            .map(|s| {
                s.iter()
                    .rev()
                    .copied()
                    .chain(std::iter::once(eos))
                    .collect()
            })
            .collect();
        let logits = m.forward(&pad(&src), &pad(&tgt_in), Mode::Train)?;
        // Cross-entropy over the real target tokens (id 0 is padding).
        let loss = seq_train::loss::cross_entropy(&logits, &pad(&tgt_out), Some(0), 0.0)?;
        opt.backward_step(&loss)?;
    }
    let src = sample(&mut rng, 40);
    let out = m.beam(&pad(&src), &BeamConfig::new(bos, eos, 8, 3).with_alpha(0.6))?;
    let right = src
        .iter()
        .zip(&out)
        .filter(|(s, h)| s.iter().rev().eq(h.tokens.iter()))
        .count();
    assert!(right >= 36, "reversed {right} of 40");
    Ok(())
}
