//! seq-attention: the Transformer of "Attention Is All You Need" (Vaswani
//! et al., 2017): attention scores between every pair of steps, multi-head
//! attention, encoder and decoder stacks, autoregressive decoding.
//!
//! - [`attention`]: scaled dot-product attention without its weights, on
//!   the CPU one fused op with its own backward (FlashAttention-2's tiles,
//!   running maximum and sum; the `T x S` scores are never held whole;
//!   causal tiles above the diagonal are skipped; dropout masks are a hash
//!   of the position and the step, recomputed in backward).
//!   [`scaled_dot_product_attention`] is the composed path that also
//!   returns the weights, and the reference the fused op is tested
//!   against; both take [`AttnMask`]s (allowed, additive,
//!   [`AttnMask::causal`]) and key padding masks ([`AttnMasks`]).
//!   Layers take the fused path unless weights are asked for
//!   (`forward_with_weights`) or [`seq_core::Engine::Composed`] is set.
//! - [`MultiHeadAttention`] under PyTorch's names (`in_proj_weight`,
//!   `in_proj_bias`, `out_proj.*`), separate query/key/value, per-head or
//!   averaged weights, a [`KvCache`] for decoding; self-attention computes
//!   queries, keys and values in one packed product and reads the heads
//!   from it in place.
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
mod kv_cache;
mod layer;
mod mask;
mod mha;
mod mha_io;
mod positional;
mod sdpa;
mod transformer;

pub use decode::{BeamConfig, Hypothesis, TransformerSeq2Seq, TransformerSeq2SeqConfig};
pub use kv_cache::KvCache;
pub use layer::{
    DecoderCache, DecoderWeights, TransformerDecoderLayer, TransformerEncoderLayer,
    TransformerLayerConfig,
};
pub use mask::AttnMask;
pub use mha::{MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights};
pub use mha_io::{MhaInput, MhaOutput};
pub use positional::{LearnedEncoding, Rotary, SinusoidalEncoding};
pub use sdpa::{attention, scaled_dot_product_attention, AttnMasks};
pub use transformer::{
    Transformer, TransformerConfig, TransformerDecoder, TransformerEncoder, TransformerWeights,
};

// Every layer is also a candle `Module` (evaluation mode).
seq_core::candle_module!(
    SinusoidalEncoding,
    LearnedEncoding,
    MultiHeadAttention,
    TransformerEncoderLayer,
    TransformerEncoder
);
