//! Properties of attention: permutation equivariance without positions,
//! causality, padding invariance, cached decoding equal to recomputation.

use candle_core::{DType, Device, IndexOp, Tensor};
use proptest::prelude::*;
use seq::attention::{
    AttnMask, KvCache, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig,
    TransformerEncoderLayer, TransformerLayerConfig,
};
use seq::core::{Mode, Params, Rng};

use crate::support::{max_diff, normal};

fn mha(seed: u64, e: usize, h: usize, rotary: bool) -> MultiHeadAttention {
    let mut cfg = MultiHeadAttentionConfig::new(e, h);
    if rotary {
        cfg = cfg.with_rotary(32);
    }
    MultiHeadAttention::new(cfg, Params::new(seed).var_builder(DType::F64, &Device::Cpu)).unwrap()
}

fn layer(seed: u64) -> TransformerEncoderLayer {
    let cfg = TransformerLayerConfig::new(8, 2)
        .with_feedforward(16)
        .with_dropout(0.0, 0);
    TransformerEncoderLayer::new(cfg, Params::new(seed).var_builder(DType::F64, &Device::Cpu))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Without positional encoding, permuting the steps permutes the outputs.
    #[test]
    fn self_attention_is_permutation_equivariant(t in 1usize..7, seed in 0u64..1000) {
        let l = layer(seed);
        let x = normal(seed, &[2, t, 8]);
        let mut perm: Vec<u32> = (0..t as u32).collect();
        Rng::new(seed).shuffle(&mut perm);
        let perm = Tensor::from_vec(perm, t, &Device::Cpu).unwrap();
        let y = l.forward(&x, None, None, Mode::Eval).unwrap();
        let y_perm = l.forward(&x.index_select(&perm, 1).unwrap(), None, None, Mode::Eval).unwrap();
        prop_assert!(max_diff(&y.index_select(&perm, 1).unwrap(), &y_perm) < 1e-12);
    }

    /// With a causal mask, output t does not change when steps after t do.
    #[test]
    fn causal_attention_ignores_the_future(t in 2usize..8, cut in 1usize..7, seed in 0u64..1000, rotary in any::<bool>()) {
        let cut = cut.min(t - 1);
        let m = mha(seed, 8, 2, rotary);
        let x = normal(seed, &[2, t, 8]);
        let changed = Tensor::cat(&[x.i((.., 0..cut)).unwrap(), normal(seed + 1, &[2, t - cut, 8])], 1).unwrap();
        let causal = AttnMask::causal(t, 0, &Device::Cpu).unwrap();
        let run = |x: &Tensor| m.forward(MhaInput::self_attn(x).with_attn_mask(&causal), Mode::Eval).unwrap().output;
        prop_assert!(max_diff(&run(&x).i((.., 0..cut)).unwrap(), &run(&changed).i((.., 0..cut)).unwrap()) < 1e-12);
    }

    /// Padded keys, whatever they hold, never change the real steps' outputs.
    #[test]
    fn padding_never_changes_real_outputs(len in 1usize..6, extra in 1usize..4, seed in 0u64..1000) {
        let l = layer(seed);
        let t = len + extra;
        let x = normal(seed, &[1, t, 8]);
        let garbage = Tensor::cat(&[x.i((.., 0..len)).unwrap(), (normal(seed + 1, &[1, extra, 8]) * 100.0).unwrap()], 1).unwrap();
        let mask: Vec<f64> = (0..t).map(|i| if i < len { 1.0 } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (1, t), &Device::Cpu).unwrap();
        let y = l.forward(&x, Some(&mask), None, Mode::Eval).unwrap();
        let y2 = l.forward(&garbage, Some(&mask), None, Mode::Eval).unwrap();
        let alone = l.forward(&x.i((.., 0..len)).unwrap(), None, None, Mode::Eval).unwrap();
        prop_assert!(max_diff(&y.i((.., 0..len)).unwrap(), &y2.i((.., 0..len)).unwrap()) < 1e-12);
        prop_assert!(max_diff(&y.i((.., 0..len)).unwrap(), &alone) < 1e-12);
    }

    /// Decoding step by step with the cache gives what causal attention over
    /// the whole prefix gives.
    #[test]
    fn cached_steps_equal_recomputation(t in 1usize..8, seed in 0u64..1000, rotary in any::<bool>()) {
        let m = mha(seed, 8, 2, rotary);
        let x = normal(seed, &[2, t, 8]);
        let causal = AttnMask::causal(t, 0, &Device::Cpu).unwrap();
        let full = m.forward(MhaInput::self_attn(&x).with_attn_mask(&causal), Mode::Eval).unwrap().output;
        let mut cache = KvCache::default();
        let steps: Vec<Tensor> = (0..t).map(|i| m.forward_cached(&x.i((.., i..i + 1)).unwrap(), &mut cache, Mode::Eval).unwrap().0).collect();
        prop_assert_eq!(cache.len(), t);
        prop_assert!(max_diff(&full, &Tensor::cat(&steps, 1).unwrap()) < 1e-12);
    }
}

/// The masks of one fused-vs-composed case, by number.
fn masks_case(
    kind: u8,
    (b, h, t, s): (usize, usize, usize, usize),
    seed: u64,
) -> (Option<Tensor>, Option<AttnMask>) {
    let dev = Device::Cpu;
    // Key padding with a wholly padded row (batch 0) when b > 1: uniform there on both paths.
    let padding = || {
        let keep: Vec<u8> = (0..b * s)
            .map(|i| u8::from(i / s != 0 && (b == 1 || i % s < s / 2 + 1)))
            .collect();
        let keep = if b == 1 { vec![1; s] } else { keep };
        Tensor::from_vec(keep, (b, s), &dev).unwrap()
    };
    let random = |bits: &[usize]| {
        let n: usize = bits.iter().product();
        let mut rng = Rng::new(seed);
        let v: Vec<u8> = (0..n).map(|_| u8::from(rng.uniform() < 0.7)).collect();
        Tensor::from_vec(v, bits, &dev).unwrap()
    };
    let offset = s - t;
    match kind % 6 {
        0 => (None, None),
        1 => (Some(padding()), None),
        2 => (None, Some(AttnMask::causal(t, offset, &dev).unwrap())),
        3 => (
            Some(padding()),
            Some(AttnMask::causal(t, offset, &dev).unwrap()),
        ),
        4 => (None, Some(AttnMask::Allowed(random(&[t, s])))),
        _ => (
            Some(padding()),
            Some(AttnMask::Additive(normal(seed + 9, &[b, h, t, s]))),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20))]

    /// The fused attention op and the composed reference agree on outputs
    /// and on the gradients of queries, keys and values, for every kind of
    /// mask (key padding with a wholly padded row, causal with an offset,
    /// allowed, additive), with dropout in training, lengths from 1 to past
    /// two tiles, head widths 8 to 128: f64 to 1e-12, f32 to 1e-5.
    #[test]
    fn fused_and_composed_attention_agree(
        kind in 0u8..6, seed in 0u64..1000, b in 1usize..3, h in 1usize..3,
        t in 1usize..270, extra in 0usize..20, dk in 0usize..3,
        single in any::<bool>(), drop in any::<bool>(),
    ) {
        use seq::attention::{attention, AttnMasks};
        use seq::core::{Dropout, Engine};
        let d = [8, 32, 128][dk];
        let s = t + extra;
        let (dtype, tol) = if single { (DType::F32, 1e-5) } else { (DType::F64, 1e-12) };
        let var = |k: u64, len: usize| {
            let x = (normal(seed + k, &[b, h, len, d]) * 0.5).unwrap().to_dtype(dtype).unwrap();
            candle_core::Var::from_tensor(&x).unwrap()
        };
        let (q, k, v) = (var(1, t), var(2, s), var(3, s));
        let r = normal(seed + 4, &[b, h, t, d]).to_dtype(dtype).unwrap();
        let (kpm, mask) = masks_case(kind, (b, h, t, s), seed);
        let mask = mask.map(|m| match m {
            AttnMask::Additive(a) => AttnMask::Additive(a.to_dtype(dtype).unwrap()),
            m => m,
        });
        seq::core::rng::set_step(seed);
        let mut results = Vec::new();
        for engine in [Engine::Fused, Engine::Composed] {
            // A fresh layer per engine: each draws its step's first mask.
            let dropout = Dropout::new(if drop { 0.3 } else { 0.0 }, seed).unwrap();
            let masks = AttnMasks::none().with_key_padding(kpm.as_ref()).with_attn(mask.as_ref());
            let out = attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), masks, Some((&dropout, Mode::Train)), engine).unwrap();
            let grads = (&out * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let mut tensors = vec![out];
            for x in [&q, &k, &v] {
                tensors.push(grads.get(x.as_tensor()).unwrap().clone());
            }
            results.push(tensors);
        }
        for (a, c) in results[0].iter().zip(&results[1]) {
            let (a, c) = (a.to_dtype(DType::F64).unwrap(), c.to_dtype(DType::F64).unwrap());
            let scale = c.abs().unwrap().max_keepdim(0).unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap().max(1.0);
            prop_assert!(max_diff(&a, &c) < tol * scale, "{} vs {tol} (scale {scale})", max_diff(&a, &c));
        }
    }

    /// Multi-head self-attention over the packed projection (the fused
    /// path, heads read in place) equals the composed path: output and the
    /// gradients of the input and of every parameter, f64 to 1e-12.
    #[test]
    fn packed_self_attention_equals_composed(
        seed in 0u64..1000, b in 1usize..3, t in 1usize..160, causal in any::<bool>(),
    ) {
        use seq::core::Engine;
        let x = candle_core::Var::from_tensor(&normal(seed, &[b, t, 16])).unwrap();
        let lengths: Vec<usize> = (0..b).map(|i| t - i.min(t - 1)).collect();
        let kpm: Vec<u8> = lengths.iter().flat_map(|&l| (0..t).map(move |j| u8::from(j < l))).collect();
        let kpm = Tensor::from_vec(kpm, (b, t), &Device::Cpu).unwrap();
        let mask = causal.then(|| AttnMask::causal(t, 0, &Device::Cpu).unwrap());
        let mut results = Vec::new();
        for engine in [Engine::Fused, Engine::Composed] {
            let p = Params::new(seed);
            let cfg = MultiHeadAttentionConfig::new(16, 4).with_dropout(0.2, seed).with_engine(engine);
            let m = MultiHeadAttention::new(cfg, p.var_builder(DType::F64, &Device::Cpu)).unwrap();
            seq::core::rng::set_step(3);
            let input = MhaInput::self_attn(x.as_tensor()).with_key_padding_mask(&kpm).with_attn_mask(mask.as_ref());
            let y = m.forward(input, Mode::Train).unwrap().output;
            let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let mut tensors = vec![y, grads.get(x.as_tensor()).unwrap().clone()];
            for (_, v) in p.named_vars() {
                tensors.push(grads.get(v.as_tensor()).unwrap().clone());
            }
            results.push(tensors);
        }
        for (a, c) in results[0].iter().zip(&results[1]) {
            prop_assert!(max_diff(a, c) < 1e-12, "{}", max_diff(a, c));
        }
    }
}
