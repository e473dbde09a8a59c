//! Gradient checks of seq-attention: attention, multi-head attention with
//! masks (and rotary positions), each Transformer layer, each positional
//! encoding.

use candle_core::{DType, Device, Tensor};
use seq::attention::{
    scaled_dot_product_attention, AttnMask, LearnedEncoding, MhaInput, MultiHeadAttention,
    MultiHeadAttentionConfig, NeedWeights, Rotary, SinusoidalEncoding, TransformerDecoderLayer,
    TransformerEncoderLayer, TransformerLayerConfig,
};
use seq::core::{Activation, Mode};

use crate::support::{assert_gradients, input, params};

fn lengths_mask(lengths: &[usize], t: usize) -> Tensor {
    let v: Vec<f64> = lengths
        .iter()
        .flat_map(|&l| (0..t).map(move |i| if i < l { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, (lengths.len(), t), &Device::Cpu).unwrap()
}

#[test]
fn scaled_dot_product_attention_with_a_causal_mask() {
    let (p, _) = params(0);
    let (q, k, v) = (
        input(1, &[2, 2, 3, 4]),
        input(2, &[2, 2, 3, 4]),
        input(3, &[2, 2, 3, 5]),
    );
    let bias = AttnMask::causal(3, 0, &Device::Cpu)
        .unwrap()
        .allowed_as_bias(DType::F64)
        .unwrap();
    assert_gradients(&p, &[("q", &q), ("k", &k), ("v", &v)], || {
        let (out, w) = scaled_dot_product_attention(
            q.as_tensor(),
            k.as_tensor(),
            v.as_tensor(),
            Some(&bias),
            None,
        )?;
        Ok(Tensor::cat(&[out.flatten_all()?, w.flatten_all()?], 0)?)
    });
}

#[test]
fn multi_head_attention_with_masks_and_rotary_positions() {
    for rotary in [false, true] {
        let (p, vb) = params(4);
        let mut cfg = MultiHeadAttentionConfig::new(8, 2);
        if rotary {
            cfg = cfg.with_rotary(8);
        }
        let mha = MultiHeadAttention::new(cfg, vb).unwrap();
        let (q, kv) = (input(5, &[2, 3, 8]), input(6, &[2, 4, 8]));
        let kpm = lengths_mask(&[4, 2], 4);
        let allowed = AttnMask::Allowed(
            Tensor::new(&[[1u8, 1, 0, 1], [1, 0, 1, 1], [1, 1, 1, 0]], &Device::Cpu).unwrap(),
        );
        assert_gradients(&p, &[("query", &q), ("key/value", &kv)], || {
            let input = MhaInput::cross_attn(q.as_tensor(), kv.as_tensor())
                .with_key_padding_mask(&kpm)
                .with_attn_mask(&allowed)
                .with_weights(NeedWeights::PerHead);
            let out = mha.forward(input, Mode::Eval)?;
            Ok(Tensor::cat(
                &[
                    out.output.flatten_all()?,
                    out.weights.expect("weights").flatten_all()?,
                ],
                0,
            )?)
        });
    }
}

fn layer_config(norm_first: bool, g: Activation) -> TransformerLayerConfig {
    TransformerLayerConfig::new(6, 2)
        .with_feedforward(8)
        .with_dropout(0.0, 0)
        .with_norm_first(norm_first)
        .with_activation(g)
}

#[test]
fn encoder_layers_post_and_pre_norm() {
    for (nf, g) in [(false, Activation::Relu), (true, Activation::Gelu)] {
        let (p, vb) = params(7);
        let layer = TransformerEncoderLayer::new(layer_config(nf, g), vb).unwrap();
        let x = input(8, &[2, 4, 6]);
        let kpm = lengths_mask(&[4, 3], 4);
        assert_gradients(&p, &[("x", &x)], || {
            layer.forward(x.as_tensor(), Some(&kpm), None, Mode::Eval)
        });
    }
}

#[test]
fn decoder_layer() {
    let (p, vb) = params(9);
    let layer = TransformerDecoderLayer::new(layer_config(false, Activation::Gelu), vb).unwrap();
    let (x, mem) = (input(10, &[2, 3, 6]), input(11, &[2, 4, 6]));
    let mkpm = lengths_mask(&[4, 2], 4);
    let causal = AttnMask::causal(3, 0, &Device::Cpu).unwrap();
    assert_gradients(&p, &[("tgt", &x), ("memory", &mem)], || {
        layer.forward(
            x.as_tensor(),
            mem.as_tensor(),
            Some(&causal),
            None,
            Some(&mkpm),
            Mode::Eval,
        )
    });
}

#[test]
fn every_positional_encoding() {
    let x = input(12, &[2, 5, 4]);
    let (none, vb) = params(13);
    let sin = SinusoidalEncoding::new(16, 4, DType::F64, &Device::Cpu).unwrap();
    assert_gradients(&none, &[("x", &x)], || sin.apply(x.as_tensor(), 3));
    let learned = LearnedEncoding::new(16, 4, vb).unwrap();
    assert_gradients(&none, &[("x", &x)], || learned.apply(x.as_tensor(), 2));
    let heads = input(14, &[2, 2, 5, 4]);
    let rotary = Rotary::new(16, 4, DType::F64, &Device::Cpu).unwrap();
    let (empty, _) = params(0);
    assert_gradients(&empty, &[("x", &heads)], || {
        rotary.apply(heads.as_tensor(), 1)
    });
}
