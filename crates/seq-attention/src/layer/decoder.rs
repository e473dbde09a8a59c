//! [`TransformerDecoderLayer`]: causal self-attention, cross-attention
//! over the encoder's memory, and a feed-forward block.

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{Dropout, Error, LayerNorm, Mode, Result};

use super::{residual, FeedForward, TransformerLayerConfig};
use crate::{AttnMask, KvCache, MhaInput, MultiHeadAttention, NeedWeights};

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
        crate::mask::at_least_one_step("TransformerDecoderLayer", "target", x)?;
        crate::mask::at_least_one_step("TransformerDecoderLayer", "memory", memory)?;
        let nf = self.config.norm_first;
        let (mut sw, mut cw) = (None, None);
        let x = residual(x, &self.norm1, nf, |h| {
            let input = MhaInput::self_attn(h)
                .with_key_padding_mask(tgt_key_padding_mask)
                .with_attn_mask(tgt_mask)
                .with_weights(need);
            let out = self.self_attn.forward(input, mode)?;
            sw = out.weights;
            self.dropout1.apply(&out.output, mode)
        })?;
        let x = residual(&x, &self.norm2, nf, |h| {
            let input = MhaInput::cross_attn(h, memory)
                .with_key_padding_mask(memory_key_padding_mask)
                .with_weights(need);
            let out = self.multihead_attn.forward(input, mode)?;
            cw = out.weights;
            self.dropout2.apply(&out.output, mode)
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
