//! Bad input gets clear errors: a width not divisible by the heads, masks
//! that do not fit, empty sequences.

use candle_core::{DType, Device, Tensor};
use seq_attention::{AttnMask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use seq_core::{Mode, Params};

fn zeros(dims: &[usize]) -> Tensor {
    Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap()
}

#[test]
fn width_must_divide_into_heads() {
    let err = MultiHeadAttention::new(
        MultiHeadAttentionConfig::new(10, 4),
        Params::new(0).var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "MultiHeadAttention: embed_dim 10 must be a positive multiple of num_heads 4 (10 = 2 * 4 + 2)");
}

#[test]
fn masks_that_do_not_fit_and_empty_sequences_are_refused() {
    let m = MultiHeadAttention::new(
        MultiHeadAttentionConfig::new(8, 2),
        Params::new(0).var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    let (q, kv) = (zeros(&[2, 3, 8]), zeros(&[2, 4, 8]));
    let run = |kpm: Option<&Tensor>, mask: Option<&AttnMask>, q: &Tensor, kv: &Tensor| {
        let input = MhaInput::cross_attn(q, kv)
            .with_key_padding_mask(kpm)
            .with_attn_mask(mask);
        m.forward(input, Mode::Eval).unwrap_err().to_string()
    };
    let err = run(Some(&zeros(&[2, 3])), None, &q, &kv);
    assert_eq!(
        err,
        "attention expected key_padding_mask [2, 4], got [2, 3]"
    );
    let err = run(
        None,
        Some(&AttnMask::causal(4, 0, &Device::Cpu).unwrap()),
        &q,
        &kv,
    );
    assert!(
        err.contains("attn_mask [3, 4]") && err.contains("got [4, 4]"),
        "{err}"
    );
    let err = run(None, None, &zeros(&[2, 0, 8]), &kv);
    assert_eq!(
        err,
        "MultiHeadAttention expected query [batch, time >= 1, features], got [2, 0, 8]"
    );
    let err = run(None, None, &zeros(&[2, 3, 6]), &kv);
    assert_eq!(
        err,
        "MultiHeadAttention expected input [batch, time, 8], got [2, 3, 6]"
    );
}
