//! [`MultiHeadAttention`]: PyTorch's `nn.MultiheadAttention` (batch-first),
//! with a key/value cache for step-by-step decoding.

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{Dropout, Engine, Error, Init, Linear, LinearConfig, Mode, Module, Result, Seq};

use crate::mask::at_least_one_step;
use crate::sdpa::{
    attention_merged, merge_heads, scaled_dot_product_attention, self_attention_packed,
};
use crate::{AttnMask, AttnMasks, KvCache, MhaInput, MhaOutput, Rotary};

/// The sizes and options of a [`MultiHeadAttention`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MultiHeadAttentionConfig {
    /// Model width `E` (`embed_dim`).
    pub embed_dim: usize,
    /// Heads `h`; each attends in `E / h` dimensions.
    pub num_heads: usize,
    /// Dropout on the attention weights, in training (default 0).
    pub dropout: f64,
    /// Seed of the dropout masks (default 0).
    pub seed: u64,
    /// Rotate queries and keys by their positions, up to this many ([`Rotary`]; default none).
    pub rotary: Option<usize>,
    /// The fused attention op or the composed path when no weights are
    /// asked for (default [`Engine::Fused`]; weights always take the composed path).
    pub engine: Engine,
}

impl MultiHeadAttentionConfig {
    /// `E` wide, `h` heads, no dropout.
    pub fn new(embed_dim: usize, num_heads: usize) -> Self {
        MultiHeadAttentionConfig {
            embed_dim,
            num_heads,
            dropout: 0.0,
            seed: 0,
            rotary: None,
            engine: Engine::Fused,
        }
    }

    /// With the fused op or the composed path.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// With dropout `p` on the weights, masks drawn with `seed`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Self {
        self.dropout = p;
        self.seed = seed;
        self
    }

    /// With rotary position embeddings for up to `max_len` positions.
    pub fn with_rotary(mut self, max_len: usize) -> Self {
        self.rotary = Some(max_len);
        self
    }
}

/// Which attention weights to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NeedWeights {
    /// None.
    #[default]
    No,
    /// Each head's: `[batch, heads, T, S]`.
    PerHead,
    /// Averaged over the heads, PyTorch's default: `[batch, T, S]`.
    Averaged,
}

/// Multi-head attention (Vaswani et al., 2017), PyTorch's
/// `nn.MultiheadAttention` with `batch_first=True`:
///
/// ```text
/// head_i = softmax((Q W_i^Q)(K W_i^K)^T / sqrt(d) + mask) (V W_i^V)     d = E / h
/// MultiHead(Q, K, V) = concat(head_1, ..., head_h) W^O
/// ```
///
/// Parameters (PyTorch names): `in_proj_weight` `[3E, E]` (`W^Q; W^K; W^V`,
/// Xavier-uniform), `in_proj_bias` `[3E]` (zeros), `out_proj.weight` `[E, E]`
/// (`W^O`), `out_proj.bias` `[E]` (zeros): `nn.MultiheadAttention` weights
/// load as they are.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_attention::{AttnMask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights};
/// use seq_core::{Mode, Params};
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// let mha = MultiHeadAttention::new(MultiHeadAttentionConfig::new(32, 4), vb.pp("attn"))?;
/// let x = Tensor::randn(0f32, 1.0, (2, 6, 32), &Device::Cpu)?; // [batch, T, E]
/// // Causal self-attention; the second sequence has 4 real steps.
/// let causal = AttnMask::causal(6, 0, &Device::Cpu)?;
/// let keep = Tensor::new(&[[1u8, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], &Device::Cpu)?;
/// let input = MhaInput::self_attn(&x)
///     .with_attn_mask(&causal)
///     .with_key_padding_mask(&keep)
///     .with_weights(NeedWeights::Averaged);
/// let out = mha.forward(input, Mode::Eval)?;
/// assert_eq!(out.output.dims(), &[2, 6, 32]);
/// let weights = out.weights.unwrap(); // [batch, T, S], rows sum to 1
/// assert_eq!(weights.dims(), &[2, 6, 6]);
/// // Query 0 sees only key 0.
/// assert_eq!(weights.get(0)?.get(0)?.to_vec1::<f32>()?[0], 1.0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MultiHeadAttention {
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: Linear,
    dropout: Dropout,
    rotary: Option<Rotary>,
    config: MultiHeadAttentionConfig,
}

impl MultiHeadAttention {
    /// Creates (or loads) the projections under `vb`.
    pub fn new(config: MultiHeadAttentionConfig, vb: VarBuilder) -> Result<Self> {
        let (e, h) = (config.embed_dim, config.num_heads);
        if e == 0 || h == 0 || e % h != 0 {
            return Err(Error::config(
                "MultiHeadAttention",
                format!("embed_dim {e} must be a positive multiple of num_heads {h} ({e} = {} * {h} + {})", e / h.max(1), e % h.max(1)),
            ));
        }
        let xavier = Init::XavierUniform { gain: 1.0 }.to_hint(&(3 * e, e).into())?;
        let zeros = Init::Const(0.0).to_hint(&(3 * e).into())?;
        let out_proj = Linear::new(
            LinearConfig::new(e, e).with_engine(config.engine),
            vb.pp("out_proj"),
        )?;
        let rotary = match config.rotary {
            Some(max_len) => Some(Rotary::new(max_len, e / h, vb.dtype(), vb.device())?),
            None => None,
        };
        Ok(MultiHeadAttention {
            in_proj_weight: vb.get_with_hints((3 * e, e), "in_proj_weight", xavier)?,
            in_proj_bias: vb.get_with_hints(3 * e, "in_proj_bias", zeros)?,
            out_proj,
            dropout: Dropout::new(config.dropout, config.seed)?,
            rotary,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MultiHeadAttentionConfig {
        &self.config
    }

    /// `x W^T + b` with rows `from..from + n` of `in_proj_weight` and
    /// `in_proj_bias`, for `x` `[batch, T, E]`: `[batch, T, n]`.
    fn in_proj(&self, x: &Tensor, from: usize, n: usize) -> Result<Tensor> {
        let e = self.config.embed_dim;
        let (_, _, width) = x.dims3()?;
        if width != e {
            return Err(Error::shape(
                "MultiHeadAttention",
                "input",
                format!("[batch, time, {e}]"),
                x.dims(),
            ));
        }
        let w = self.in_proj_weight.narrow(0, from, n)?;
        let bias = self.in_proj_bias.narrow(0, from, n)?;
        seq_core::linear(x, &w, Some(&bias), self.config.engine) // [batch, T, n]
    }

    /// Projection `i` (0 query, 1 key, 2 value) of `x` `[batch, T, E]`,
    /// split into heads `[batch, heads, T, d]` (a view), rotated from `offset`.
    fn project(&self, x: &Tensor, i: usize, offset: usize) -> Result<Tensor> {
        let (e, h) = (self.config.embed_dim, self.config.num_heads);
        let y = self.in_proj(x, i * e, e)?; // [batch, T, E]
        let (b, t, _) = y.dims3()?;
        let y = y.reshape((b, t, h, e / h))?.transpose(1, 2)?;
        match (&self.rotary, i) {
            (Some(r), 0 | 1) => r.apply(&y, offset),
            _ => Ok(y),
        }
    }

    /// Attention of the input's query `[batch, T, E]` over its key and
    /// value `[batch, S, E]`, with its masks; see [`MhaInput`].
    ///
    /// # Returns
    /// The output `[batch, T, E]` and, if asked, the attention weights.
    pub fn forward(&self, input: MhaInput, mode: Mode) -> Result<MhaOutput> {
        let MhaInput {
            query,
            key,
            value,
            key_padding_mask,
            attn_mask,
            need_weights,
        } = input;
        at_least_one_step("MultiHeadAttention", "query", query)?;
        at_least_one_step("MultiHeadAttention", "key", key)?;
        let masks = AttnMasks::none()
            .with_key_padding(key_padding_mask)
            .with_attn(attn_mask);
        let self_attention = query.id() == key.id() && key.id() == value.id();
        if self_attention && need_weights == NeedWeights::No && self.rotary.is_none() {
            // One [E, 3E] product; the heads are read from it in place.
            let e = self.config.embed_dim;
            let qkv = self.in_proj(query, 0, 3 * e)?; // [batch, T, 3E]
            let drop = Some((&self.dropout, mode));
            let out = self_attention_packed(
                &qkv,
                self.config.num_heads,
                masks,
                drop,
                self.config.engine,
            )?;
            return Ok(MhaOutput {
                output: self.out_proj.apply(&out)?,
                weights: None,
            });
        }
        let q = self.project(query, 0, 0)?;
        let k = self.project(key, 1, 0)?;
        let v = self.project(value, 2, 0)?;
        let (output, weights) = self.attend(&q, &k, &v, masks, need_weights, mode)?;
        Ok(MhaOutput { output, weights })
    }

    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        masks: AttnMasks,
        need_weights: NeedWeights,
        mode: Mode,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let drop = Some((&self.dropout, mode));
        if need_weights == NeedWeights::No {
            let out = attention_merged(q, k, v, masks, drop, self.config.engine)?;
            return Ok((self.out_proj.apply(&out)?, None));
        }
        let (b, h, t, _) = q.dims4()?;
        let s = k.dims()[2];
        let bias = masks.bias(q.dtype(), (b, h, t, s))?;
        let (out, weights) = scaled_dot_product_attention(q, k, v, bias.as_ref(), drop)?;
        let out = self.out_proj.apply(&merge_heads(&out)?)?;
        let weights = match need_weights {
            NeedWeights::No => None,
            NeedWeights::PerHead => Some(weights),
            NeedWeights::Averaged => Some(weights.mean(1)?),
        };
        Ok((out, weights))
    }

    /// Causal self-attention of new steps `x` `[batch, T_new, E]` after the
    /// steps in `cache`, which it extends: decoding costs one step per token.
    ///
    /// # Returns
    /// The output `[batch, T_new, E]` and the per-head weights `[batch, heads, T_new, S]`.
    pub fn forward_cached(
        &self,
        x: &Tensor,
        cache: &mut KvCache,
        mode: Mode,
    ) -> Result<(Tensor, Tensor)> {
        let offset = cache.len();
        let q = self.project(x, 0, offset)?;
        let (k_new, v_new) = (self.project(x, 1, offset)?, self.project(x, 2, offset)?);
        let (k, v) = cache.append(&k_new, &v_new)?;
        let t = x.dims()[1];
        let causal = AttnMask::causal(t, offset, x.device())?;
        let masks = AttnMasks::none().with_attn(Some(&causal));
        let (out, w) = self.attend(&q, &k, &v, masks, NeedWeights::PerHead, mode)?;
        Ok((
            out,
            w.ok_or_else(|| Error::config("MultiHeadAttention", "weights missing"))?,
        ))
    }

    /// Keys and values of a fixed `memory` `[batch, S, E]`, projected once
    /// for cross-attention while decoding.
    pub fn memory_cache(&self, memory: &Tensor) -> Result<KvCache> {
        let (k, v) = (self.project(memory, 1, 0)?, self.project(memory, 2, 0)?);
        Ok(KvCache::filled(k, v))
    }

    /// Attention of `query` `[batch, T, E]` over keys and values already in `cache`.
    pub fn forward_with_cache(
        &self,
        query: &Tensor,
        cache: &KvCache,
        key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<(Tensor, Tensor)> {
        let Some((k, v)) = cache.views() else {
            return Err(Error::config("MultiHeadAttention", "the cache is empty"));
        };
        let q = self.project(query, 0, 0)?;
        let masks = AttnMasks::none().with_key_padding(key_padding_mask);
        let (out, w) = self.attend(&q, &k, &v, masks, NeedWeights::PerHead, mode)?;
        Ok((
            out,
            w.ok_or_else(|| Error::config("MultiHeadAttention", "weights missing"))?,
        ))
    }
}

impl Module for MultiHeadAttention {
    /// Self-attention of the `Seq` (its mask is the key padding mask).
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        let input = MhaInput::self_attn(xs.values()).with_key_padding_mask(xs.mask());
        xs.with_values(MultiHeadAttention::forward(self, input, mode)?.output)
    }
}

impl fmt::Display for MultiHeadAttention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (e, h) = (self.config.embed_dim, self.config.num_heads);
        write!(
            f,
            "MultiHeadAttention(embed_dim={e}, heads={h}; {} params)",
            4 * e * e + 4 * e
        )
    }
}

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for MultiHeadAttention {
    type Config = MultiHeadAttentionConfig;
    const MODEL_TYPE: &'static str = "multi_head_attention";

    fn build(config: &MultiHeadAttentionConfig, vb: VarBuilder) -> Result<Self> {
        MultiHeadAttention::new(*config, vb)
    }

    fn pretrained_config(&self) -> MultiHeadAttentionConfig {
        *self.config()
    }
}
