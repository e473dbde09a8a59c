//! [`TransformerEncoderLayer`] and [`TransformerDecoderLayer`]: PyTorch's
//! `nn.TransformerEncoderLayer` and `nn.TransformerDecoderLayer` (batch-first).

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{
    Activation, Dropout, Engine, Error, LayerNorm, LayerNormConfig, Linear, LinearConfig, Mode,
    Result,
};

use crate::{AttnMask, KvCache, MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights};

/// The sizes and options of a Transformer layer; PyTorch's fields and defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformerLayerConfig {
    /// Model width `d_model`.
    pub d_model: usize,
    /// Attention heads.
    pub nhead: usize,
    /// Width of the feed-forward block (default 2048).
    pub dim_feedforward: usize,
    /// Dropout after attention, inside and after the feed-forward block (default 0.1).
    pub dropout: f64,
    /// The feed-forward activation: relu (default) or gelu.
    pub activation: Activation,
    /// LayerNorm's epsilon (default 1e-5).
    pub layer_norm_eps: f64,
    /// Pre-norm (normalise before each block) instead of the paper's
    /// post-norm (default false).
    pub norm_first: bool,
    /// Seed of the dropout masks (default 0).
    pub seed: u64,
    /// Fused CPU ops (attention, layer norm, activations) or the composed
    /// reference (default [`Engine::Fused`]).
    pub engine: Engine,
}

impl TransformerLayerConfig {
    /// `d_model` wide with `nhead` heads and PyTorch's other defaults.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerLayerConfig {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            norm_first: false,
            seed: 0,
            engine: Engine::Fused,
        }
    }

    /// With the fused ops or the composed reference.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// With a feed-forward width.
    pub fn with_feedforward(mut self, width: usize) -> Self {
        self.dim_feedforward = width;
        self
    }

    /// With dropout `p`, masks drawn with `seed`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Self {
        self.dropout = p;
        self.seed = seed;
        self
    }

    /// With the feed-forward activation (relu or gelu).
    pub fn with_activation(mut self, g: Activation) -> Self {
        self.activation = g;
        self
    }

    /// Pre-norm instead of post-norm.
    pub fn with_norm_first(mut self, yes: bool) -> Self {
        self.norm_first = yes;
        self
    }

    fn attention(&self, salt: u64) -> MultiHeadAttentionConfig {
        MultiHeadAttentionConfig::new(self.d_model, self.nhead)
            .with_dropout(self.dropout, self.seed.wrapping_add(salt))
            .with_engine(self.engine)
    }

    fn norm(&self, vb: VarBuilder) -> Result<LayerNorm> {
        LayerNorm::new(
            LayerNormConfig::new(self.d_model)
                .with_eps(self.layer_norm_eps)
                .with_engine(self.engine),
            vb,
        )
    }
}

/// `linear2(dropout(g(linear1(x))))`, then dropout.
#[derive(Debug)]
struct FeedForward {
    linear1: Linear,
    linear2: Linear,
    activation: Activation,
    engine: Engine,
    inner: Dropout,
    outer: Dropout,
}

impl FeedForward {
    fn new(c: &TransformerLayerConfig, vb: &VarBuilder) -> Result<Self> {
        if !matches!(
            c.activation,
            Activation::Relu | Activation::Gelu | Activation::GeluTanh
        ) {
            return Err(Error::config(
                "Transformer layer",
                format!(
                    "activation must be relu, gelu or gelu-tanh, got {}",
                    c.activation
                ),
            ));
        }
        Ok(FeedForward {
            linear1: Linear::new(
                LinearConfig::new(c.d_model, c.dim_feedforward),
                vb.pp("linear1"),
            )?,
            linear2: Linear::new(
                LinearConfig::new(c.dim_feedforward, c.d_model),
                vb.pp("linear2"),
            )?,
            activation: c.activation,
            engine: c.engine,
            inner: Dropout::new(c.dropout, c.seed.wrapping_add(101))?,
            outer: Dropout::new(c.dropout, c.seed.wrapping_add(102))?,
        })
    }

    fn apply(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = match self.engine {
            Engine::Fused => self.linear1.apply_activation(x, self.activation)?,
            Engine::Composed => self.activation.apply(&self.linear1.apply(x)?)?,
        };
        let h = self.inner.apply(&h, mode)?; // [batch, T, ff]
        self.outer.apply(&self.linear2.apply(&h)?, mode)
    }
}

/// A residual block `x + f(x)` normalised after (post-norm, the paper's)
/// or before (pre-norm).
fn residual(
    x: &Tensor,
    norm: &LayerNorm,
    norm_first: bool,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if norm_first {
        Ok((x + f(&norm.apply(x)?)?)?)
    } else {
        norm.apply(&(x + f(x)?)?)
    }
}

/// Self-attention and a feed-forward block, each with a residual connection
/// and layer norm (Vaswani et al., 2017), PyTorch's
/// `nn.TransformerEncoderLayer(batch_first=True)`:
///
/// ```text
/// post-norm: x = norm1(x + SelfAttn(x));  x = norm2(x + FF(x))
/// pre-norm:  x = x + SelfAttn(norm1(x));  x = x + FF(norm2(x))
/// FF(x) = linear2(dropout(g(linear1(x))))
/// ```
///
/// Parameters (PyTorch names): `self_attn.*`, `linear1.*`, `linear2.*`,
/// `norm1.*`, `norm2.*`.
#[derive(Debug)]
pub struct TransformerEncoderLayer {
    self_attn: MultiHeadAttention,
    ff: FeedForward,
    norm1: LayerNorm,
    norm2: LayerNorm,
    dropout1: Dropout,
    config: TransformerLayerConfig,
}

impl TransformerEncoderLayer {
    /// Creates (or loads) the layer's tensors under `vb`.
    pub fn new(config: TransformerLayerConfig, vb: VarBuilder) -> Result<Self> {
        Ok(TransformerEncoderLayer {
            self_attn: MultiHeadAttention::new(config.attention(1), vb.pp("self_attn"))?,
            ff: FeedForward::new(&config, &vb)?,
            norm1: config.norm(vb.pp("norm1"))?,
            norm2: config.norm(vb.pp("norm2"))?,
            dropout1: Dropout::new(config.dropout, config.seed.wrapping_add(2))?,
            config,
        })
    }

    /// Runs the layer on `x` `[batch, T, d_model]`; self-attention takes the
    /// fused path (see [`MultiHeadAttentionConfig::engine`]).
    ///
    /// # Parameters
    /// - `key_padding_mask` `[batch, T]`: 1 real, 0 padding.
    /// - `attn_mask`: optional, e.g. causal.
    ///
    /// # Returns
    /// `[batch, T, d_model]`.
    pub fn forward(
        &self,
        x: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&AttnMask>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (y, _) = self.run(x, key_padding_mask, attn_mask, NeedWeights::No, mode)?;
        Ok(y)
    }

    /// [`forward`](Self::forward) with the self-attention weights
    /// `[batch, heads, T, T]` (the composed, materialising path).
    pub fn forward_with_weights(
        &self,
        x: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&AttnMask>,
        mode: Mode,
    ) -> Result<(Tensor, Tensor)> {
        let (y, w) = self.run(x, key_padding_mask, attn_mask, NeedWeights::PerHead, mode)?;
        let w =
            w.ok_or_else(|| Error::config("TransformerEncoderLayer", "no attention weights"))?;
        Ok((y, w))
    }

    fn run(
        &self,
        x: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&AttnMask>,
        need: NeedWeights,
        mode: Mode,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut weights = None;
        let x = residual(x, &self.norm1, self.config.norm_first, |h| {
            let (y, w) =
                self.self_attn
                    .forward(h, h, h, key_padding_mask, attn_mask, need, mode)?;
            weights = w;
            self.dropout1.apply(&y, mode)
        })?;
        let x = residual(&x, &self.norm2, self.config.norm_first, |h| {
            self.ff.apply(h, mode)
        })?;
        Ok((x, weights))
    }
}

/// Causal self-attention, cross-attention over the encoder's memory, and a
/// feed-forward block, each residual and normalised, PyTorch's
/// `nn.TransformerDecoderLayer(batch_first=True)`:
///
/// ```text
/// post-norm: x = norm1(x + SelfAttn(x)); x = norm2(x + CrossAttn(x, memory)); x = norm3(x + FF(x))
/// pre-norm:  x = x + SelfAttn(norm1(x)); x = x + CrossAttn(norm2(x), memory); x = x + FF(norm3(x))
/// ```
///
/// Parameters (PyTorch names): `self_attn.*`, `multihead_attn.*`,
/// `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`, `norm3.*`.
#[derive(Debug)]
pub struct TransformerDecoderLayer {
    self_attn: MultiHeadAttention,
    multihead_attn: MultiHeadAttention,
    ff: FeedForward,
    norm1: LayerNorm,
    norm2: LayerNorm,
    norm3: LayerNorm,
    dropout1: Dropout,
    dropout2: Dropout,
    config: TransformerLayerConfig,
}

/// The attention weights of one decoder layer.
#[derive(Debug, Clone)]
pub struct DecoderWeights {
    /// Self-attention `[batch, heads, T, T]`.
    pub self_attn: Tensor,
    /// Cross-attention over the source `[batch, heads, T, S]`: what each
    /// target word looks at (the heatmap of a translation).
    pub cross_attn: Tensor,
}

/// The caches of one decoder layer while decoding step by step.
#[derive(Debug, Clone)]
pub struct DecoderCache {
    /// Keys and values of the target steps so far.
    pub self_attn: KvCache,
    /// Keys and values of the memory, projected once.
    pub memory: KvCache,
}

impl TransformerDecoderLayer {
    /// Creates (or loads) the layer's tensors under `vb`.
    pub fn new(config: TransformerLayerConfig, vb: VarBuilder) -> Result<Self> {
        Ok(TransformerDecoderLayer {
            self_attn: MultiHeadAttention::new(config.attention(1), vb.pp("self_attn"))?,
            multihead_attn: MultiHeadAttention::new(config.attention(3), vb.pp("multihead_attn"))?,
            ff: FeedForward::new(&config, &vb)?,
            norm1: config.norm(vb.pp("norm1"))?,
            norm2: config.norm(vb.pp("norm2"))?,
            norm3: config.norm(vb.pp("norm3"))?,
            dropout1: Dropout::new(config.dropout, config.seed.wrapping_add(2))?,
            dropout2: Dropout::new(config.dropout, config.seed.wrapping_add(4))?,
            config,
        })
    }

    /// Runs the layer on the target `x` `[batch, T, d]` over `memory` `[batch, S, d]`;
    /// both attentions take the fused path.
    ///
    /// # Parameters
    /// - `tgt_mask`: self-attention mask, usually [`AttnMask::causal`].
    /// - `tgt_key_padding_mask` `[batch, T]`, `memory_key_padding_mask` `[batch, S]`: 1 real, 0 padding.
    ///
    /// # Returns
    /// `[batch, T, d]`.
    pub fn forward(
        &self,
        x: &Tensor,
        memory: &Tensor,
        tgt_mask: Option<&AttnMask>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let masks = (tgt_mask, tgt_key_padding_mask, memory_key_padding_mask);
        let (y, _, _) = self.run(x, memory, masks, NeedWeights::No, mode)?;
        Ok(y)
    }

    /// [`forward`](Self::forward) with both attentions' weights (the
    /// composed, materialising path).
    pub fn forward_with_weights(
        &self,
        x: &Tensor,
        memory: &Tensor,
        tgt_mask: Option<&AttnMask>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<(Tensor, DecoderWeights)> {
        let masks = (tgt_mask, tgt_key_padding_mask, memory_key_padding_mask);
        let (y, sw, cw) = self.run(x, memory, masks, NeedWeights::PerHead, mode)?;
        let missing = || Error::config("TransformerDecoderLayer", "no attention weights");
        Ok((
            y,
            DecoderWeights {
                self_attn: sw.ok_or_else(missing)?,
                cross_attn: cw.ok_or_else(missing)?,
            },
        ))
    }

    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        x: &Tensor,
        memory: &Tensor,
        (tgt_mask, tgt_key_padding_mask, memory_key_padding_mask): (
            Option<&AttnMask>,
            Option<&Tensor>,
            Option<&Tensor>,
        ),
        need: NeedWeights,
        mode: Mode,
    ) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let nf = self.config.norm_first;
        let (mut sw, mut cw) = (None, None);
        let x = residual(x, &self.norm1, nf, |h| {
            let (y, w) =
                self.self_attn
                    .forward(h, h, h, tgt_key_padding_mask, tgt_mask, need, mode)?;
            sw = w;
            self.dropout1.apply(&y, mode)
        })?;
        let x = residual(&x, &self.norm2, nf, |h| {
            let (y, w) = self.multihead_attn.forward(
                h,
                memory,
                memory,
                memory_key_padding_mask,
                None,
                need,
                mode,
            )?;
            cw = w;
            self.dropout2.apply(&y, mode)
        })?;
        let x = residual(&x, &self.norm3, nf, |h| self.ff.apply(h, mode))?;
        Ok((x, sw, cw))
    }

    /// An empty cache over `memory` `[batch, S, d]`.
    pub fn cache(&self, memory: &Tensor) -> Result<DecoderCache> {
        Ok(DecoderCache {
            self_attn: KvCache::default(),
            memory: self.multihead_attn.memory_cache(memory)?,
        })
    }

    /// One decoding step: new target steps `x` `[batch, T_new, d]` after the
    /// ones in `cache` (causal), which it extends.
    pub fn forward_cached(
        &self,
        x: &Tensor,
        cache: &mut DecoderCache,
        memory_key_padding_mask: Option<&Tensor>,
    ) -> Result<(Tensor, DecoderWeights)> {
        let (nf, mode) = (self.config.norm_first, Mode::Eval);
        let (mut sw, mut cw) = (None, None);
        let x = residual(x, &self.norm1, nf, |h| {
            let (y, w) = self
                .self_attn
                .forward_cached(h, &mut cache.self_attn, mode)?;
            sw = Some(w);
            Ok(y)
        })?;
        let x = residual(&x, &self.norm2, nf, |h| {
            let (y, w) = self.multihead_attn.forward_with_cache(
                h,
                &cache.memory,
                memory_key_padding_mask,
                mode,
            )?;
            cw = Some(w);
            Ok(y)
        })?;
        let x = residual(&x, &self.norm3, nf, |h| self.ff.apply(h, mode))?;
        let missing = || Error::config("TransformerDecoderLayer", "no attention weights");
        Ok((
            x,
            DecoderWeights {
                self_attn: sw.ok_or_else(missing)?,
                cross_attn: cw.ok_or_else(missing)?,
            },
        ))
    }
}
