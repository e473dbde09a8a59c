//! [`TransformerEncoderLayer`]: self-attention and a feed-forward block.

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{Dropout, Error, LayerNorm, Mode, Module, Result, Seq};

use super::{residual, FeedForward, TransformerLayerConfig};
use crate::{AttnMask, MhaInput, MultiHeadAttention, NeedWeights};

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
    /// fused path (see [`MultiHeadAttentionConfig::engine`](crate::MultiHeadAttentionConfig::engine)).
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
        crate::mask::at_least_one_step("TransformerEncoderLayer", "input", x)?;
        let mut weights = None;
        let x = residual(x, &self.norm1, self.config.norm_first, |h| {
            let input = MhaInput::self_attn(h)
                .with_key_padding_mask(key_padding_mask)
                .with_attn_mask(attn_mask)
                .with_weights(need);
            let out = self.self_attn.forward(input, mode)?;
            weights = out.weights;
            self.dropout1.apply(&out.output, mode)
        })?;
        let x = residual(&x, &self.norm2, self.config.norm_first, |h| {
            self.ff.apply(h, mode)
        })?;
        Ok((x, weights))
    }
}

impl Module for TransformerEncoderLayer {
    /// The `Seq`'s mask is the key padding mask.
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        let y = TransformerEncoderLayer::forward(self, xs.values(), xs.mask(), None, mode)?;
        xs.with_values(y)
    }
}

impl fmt::Display for TransformerEncoderLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransformerEncoderLayer({})", self.config)
    }
}
