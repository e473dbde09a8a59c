//! PyTorch parity: `nn.MultiheadAttention` (both masks),
//! `nn.TransformerEncoderLayer` and `nn.TransformerDecoderLayer` (post-norm
//! relu and pre-norm gelu each) and a small `nn.Transformer`. Weights load
//! under PyTorch's names; outputs, attention weights and the gradients of
//! the inputs and every parameter match the f64 reference within 1e-10 in
//! f64 and 1e-5 in f32. Fixtures: `tests/fixtures/attention.py`.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use seq_attention::{
    AttnMask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights, Transformer,
    TransformerConfig, TransformerDecoderLayer, TransformerEncoderLayer, TransformerLayerConfig,
};
use seq_core::testing::{load_fixture, max_abs_diff, parity_tolerance};
use seq_core::{Activation, Mode, Params, Result};

/// The dtypes every case runs in.
const DTYPES: [DType; 2] = [DType::F64, DType::F32];
const E: usize = 8;
const H: usize = 2;
const FF: usize = 16;

struct Fixture {
    path: PathBuf,
    dtype: DType,
    tensors: HashMap<String, Tensor>,
    params: Params,
}

impl Fixture {
    fn load(name: &str, dtype: DType) -> Self {
        let path: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "..",
            "tests",
            "fixtures",
            "attention",
            &format!("{name}.safetensors"),
        ]
        .iter()
        .collect();
        let tensors = load_fixture(&path, dtype).unwrap();
        Fixture {
            path,
            dtype,
            tensors,
            params: Params::new(0),
        }
    }

    fn t(&self, k: &str) -> Tensor {
        self.tensors
            .get(k)
            .unwrap_or_else(|| panic!("fixture lacks {k}"))
            .clone()
    }

    fn var(&self, k: &str) -> Var {
        Var::from_tensor(&self.t(k)).unwrap()
    }

    fn var_builder(&self) -> candle_nn::VarBuilder<'static> {
        self.params.var_builder(self.dtype, &Device::Cpu)
    }

    /// Loads the weights, computes `L = sum(out * r.out)` over `outputs`,
    /// and compares outputs and gradients.
    fn check(&self, inputs: &[(&str, &Var)], outputs: &[(&str, Tensor)]) -> Result<()> {
        let mut loss = Tensor::zeros((), self.dtype, &Device::Cpu)?;
        let mut errors = Vec::new();
        for (name, out) in outputs {
            errors.push((name.to_string(), max_diff(name, out, &self.t(name))));
            loss = (loss + (out * self.t(&format!("r.{name}")))?.sum_all()?)?;
        }
        let grads = loss.backward()?;
        let mut checked: Vec<(String, Var)> = self.params.named_vars();
        checked.extend(inputs.iter().map(|(n, v)| (n.to_string(), (*v).clone())));
        for (name, v) in &checked {
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            errors.push((
                format!("grad.{name}"),
                max_diff(name, g, &self.t(&format!("grad.{name}"))),
            ));
        }
        for (what, e) in errors {
            assert!(
                e <= parity_tolerance(self.dtype),
                "{} {:?}: {what} differs from PyTorch by {e:.2e}",
                self.path.display(),
                self.dtype
            );
        }
        Ok(())
    }
}

fn max_diff(name: &str, ours: &Tensor, theirs: &Tensor) -> f64 {
    max_abs_diff(ours, theirs).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn layer_config() -> TransformerLayerConfig {
    TransformerLayerConfig::new(E, H)
        .with_feedforward(FF)
        .with_dropout(0.0, 0)
}

#[test]
fn multi_head_attention_with_both_masks_matches_pytorch() -> Result<()> {
    DTYPES.into_iter().try_for_each(mha_case)
}

fn mha_case(dtype: DType) -> Result<()> {
    let f = Fixture::load("mha", dtype);
    let mha = MultiHeadAttention::new(MultiHeadAttentionConfig::new(E, H), f.var_builder())?;
    f.params.load(&f.path)?;
    let (q, k, v) = (f.var("query"), f.var("key"), f.var("value"));
    let kpm = f.t("key_padding_mask");
    let mask = AttnMask::Allowed(f.t("attn_mask").to_dtype(DType::U8)?);
    let input = MhaInput::new(q.as_tensor(), k.as_tensor(), v.as_tensor())
        .with_key_padding_mask(&kpm)
        .with_attn_mask(&mask)
        .with_weights(NeedWeights::Averaged);
    let out = mha.forward(input, Mode::Train)?;
    f.check(
        &[("query", &q), ("key", &k), ("value", &v)],
        &[("output", out.output), ("weights", out.weights.unwrap())],
    )
}

fn encoder_case(name: &str, config: TransformerLayerConfig, dtype: DType) -> Result<()> {
    let f = Fixture::load(name, dtype);
    let layer = TransformerEncoderLayer::new(config, f.var_builder())?;
    f.params.load(&f.path)?;
    let x = f.var("src");
    let out = layer.forward(
        x.as_tensor(),
        Some(&f.t("src_key_padding_mask")),
        None,
        Mode::Train,
    )?;
    f.check(&[("src", &x)], &[("output", out)])
}

#[test]
fn encoder_layers_match_pytorch() -> Result<()> {
    for dtype in DTYPES {
        encoder_case("encoder_layer", layer_config(), dtype)?;
        encoder_case("encoder_layer_prenorm_gelu", prenorm_gelu(), dtype)?;
    }
    Ok(())
}

fn prenorm_gelu() -> TransformerLayerConfig {
    layer_config()
        .with_norm_first(true)
        .with_activation(Activation::Gelu)
}

#[test]
fn decoder_layers_match_pytorch() -> Result<()> {
    for dtype in DTYPES {
        decoder_case("decoder_layer", layer_config(), dtype)?;
        decoder_case("decoder_layer_prenorm_gelu", prenorm_gelu(), dtype)?;
    }
    Ok(())
}

fn decoder_case(name: &str, config: TransformerLayerConfig, dtype: DType) -> Result<()> {
    let f = Fixture::load(name, dtype);
    let layer = TransformerDecoderLayer::new(config, f.var_builder())?;
    f.params.load(&f.path)?;
    let (x, mem) = (f.var("tgt"), f.var("memory"));
    let causal = AttnMask::causal(3, 0, &Device::Cpu)?;
    let out = layer.forward(
        x.as_tensor(),
        mem.as_tensor(),
        Some(&causal),
        None,
        Some(&f.t("memory_key_padding_mask")),
        Mode::Train,
    )?;
    f.check(&[("tgt", &x), ("memory", &mem)], &[("output", out)])
}

#[test]
fn a_small_transformer_matches_pytorch() -> Result<()> {
    DTYPES.into_iter().try_for_each(transformer_case)
}

fn transformer_case(dtype: DType) -> Result<()> {
    let f = Fixture::load("transformer", dtype);
    let config = TransformerConfig {
        layer: layer_config(),
        num_encoder_layers: 2,
        num_decoder_layers: 2,
    };
    let model = Transformer::new(config, f.var_builder())?;
    f.params.load(&f.path)?;
    let (src, tgt) = (f.var("src"), f.var("tgt"));
    let out = model.forward(
        src.as_tensor(),
        tgt.as_tensor(),
        Some(&f.t("src_key_padding_mask")),
        Some(&f.t("tgt_key_padding_mask")),
        Mode::Train,
    )?;
    f.check(&[("src", &src), ("tgt", &tgt)], &[("output", out)])
}
