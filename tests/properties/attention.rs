//! Properties of attention: permutation equivariance without positions,
//! causality, padding invariance, cached decoding equal to recomputation.

use candle_core::{DType, Device, IndexOp, Tensor};
use proptest::prelude::*;
use seq::attention::{
    AttnMask, KvCache, MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights,
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
        let (y, _) = l.forward(&x, None, None, Mode::Eval).unwrap();
        let (y_perm, _) = l.forward(&x.index_select(&perm, 1).unwrap(), None, None, Mode::Eval).unwrap();
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
        let run = |x: &Tensor| m.forward(x, x, x, None, Some(&causal), NeedWeights::No, Mode::Eval).unwrap().0;
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
        let (y, _) = l.forward(&x, Some(&mask), None, Mode::Eval).unwrap();
        let (y2, _) = l.forward(&garbage, Some(&mask), None, Mode::Eval).unwrap();
        let (alone, _) = l.forward(&x.i((.., 0..len)).unwrap(), None, None, Mode::Eval).unwrap();
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
        let (full, _) = m.forward(&x, &x, &x, None, Some(&causal), NeedWeights::No, Mode::Eval).unwrap();
        let mut cache = KvCache::default();
        let steps: Vec<Tensor> = (0..t).map(|i| m.forward_cached(&x.i((.., i..i + 1)).unwrap(), &mut cache, Mode::Eval).unwrap().0).collect();
        prop_assert_eq!(cache.len(), t);
        prop_assert!(max_diff(&full, &Tensor::cat(&steps, 1).unwrap()) < 1e-12);
    }
}
