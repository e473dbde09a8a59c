//! seq-attention: the Transformer of "Attention Is All You Need" (Vaswani
//! et al., 2017): attention scores between every pair of steps, multi-head
//! attention, encoder and decoder stacks, autoregressive decoding.
//!
//! - [`scaled_dot_product_attention`] with [`AttnMask`]s (allowed or
//!   additive, [`AttnMask::causal`]) and key padding masks, differentiable
//!   end to end (seq's softmax, not candle's fused one, which has no backward).
//! - [`MultiHeadAttention`] under PyTorch's names (`in_proj_weight`,
//!   `in_proj_bias`, `out_proj.*`), separate query/key/value, per-head or
//!   averaged weights, a [`KvCache`] for decoding.
//! - Positional encodings: [`SinusoidalEncoding`], [`LearnedEncoding`],
//!   [`Rotary`].
//! - [`TransformerEncoderLayer`], [`TransformerDecoderLayer`] (post-norm as
//!   in the paper, pre-norm as an option; relu or gelu; dropout), the
//!   [`TransformerEncoder`] and [`TransformerDecoder`] stacks and the
//!   [`Transformer`], all under `nn.Transformer`'s parameter names.
//! - [`TransformerSeq2Seq`]: a token model with greedy and beam search
//!   (width, length penalty, end token) over the cache; every layer's
//!   attention weights are returned for heatmaps.
//!
//! Masks follow seq's convention: 1 = real / may attend, 0 = padding /
//! masked (PyTorch's boolean masks mean the opposite).
#![warn(missing_docs)]

mod decode;
mod flash;
mod layer;
mod mask;
mod mha;
mod positional;
mod sdpa;
mod transformer;

pub use decode::{Hypothesis, TransformerSeq2Seq, TransformerSeq2SeqConfig};
pub use layer::{
    DecoderCache, DecoderWeights, TransformerDecoderLayer, TransformerEncoderLayer,
    TransformerLayerConfig,
};
pub use mask::AttnMask;
pub use mha::{KvCache, MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights};
pub use positional::{LearnedEncoding, Rotary, SinusoidalEncoding};
pub use sdpa::{attention, scaled_dot_product_attention, AttnMasks};
pub use transformer::{
    Transformer, TransformerConfig, TransformerDecoder, TransformerEncoder, TransformerWeights,
};
