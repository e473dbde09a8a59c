//! [`MhaInput`] and [`MhaOutput`]: what goes into and comes out of
//! [`MultiHeadAttention::forward`](crate::MultiHeadAttention::forward).

use candle_core::Tensor;

use crate::{AttnMask, NeedWeights};

/// The inputs of one attention call: queries, keys and values, the masks,
/// and which weights to return.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{Device, Tensor};
/// use seq_attention::{AttnMask, MhaInput, NeedWeights};
///
/// let x = Tensor::zeros((2, 5, 16), candle_core::DType::F32, &Device::Cpu)?;
/// let causal = AttnMask::causal(5, 0, &Device::Cpu)?;
/// let input = MhaInput::self_attn(&x)
///     .with_attn_mask(&causal)
///     .with_weights(NeedWeights::Averaged);
/// assert!(input.key_padding_mask.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MhaInput<'a> {
    /// Queries `[batch, T, E]`.
    pub query: &'a Tensor,
    /// Keys `[batch, S, E]`.
    pub key: &'a Tensor,
    /// Values `[batch, S, E]`.
    pub value: &'a Tensor,
    /// `[batch, S]`, 1 for a real key and 0 for padding (default none).
    pub key_padding_mask: Option<&'a Tensor>,
    /// Which queries may see which keys, e.g. [`AttnMask::causal`] (default none).
    pub attn_mask: Option<&'a AttnMask>,
    /// Which attention weights to return (default [`NeedWeights::No`], which
    /// lets the fused kernel run without holding the `T x S` scores).
    pub need_weights: NeedWeights,
}

impl<'a> MhaInput<'a> {
    /// Attention of `query` over `key` and `value`.
    pub fn new(query: &'a Tensor, key: &'a Tensor, value: &'a Tensor) -> Self {
        MhaInput {
            query,
            key,
            value,
            key_padding_mask: None,
            attn_mask: None,
            need_weights: NeedWeights::No,
        }
    }

    /// Self-attention: `x` `[batch, T, E]` is the query, the key and the
    /// value (one packed projection computes all three).
    pub fn self_attn(x: &'a Tensor) -> Self {
        Self::new(x, x, x)
    }

    /// Cross-attention of `query` over a `memory` that gives both the keys
    /// and the values (an encoder's output).
    pub fn cross_attn(query: &'a Tensor, memory: &'a Tensor) -> Self {
        Self::new(query, memory, memory)
    }

    /// With a key padding mask `[batch, S]` (a `&Tensor` or an `Option`).
    pub fn with_key_padding_mask(mut self, mask: impl Into<Option<&'a Tensor>>) -> Self {
        self.key_padding_mask = mask.into();
        self
    }

    /// With an attention mask (an `&AttnMask` or an `Option`).
    pub fn with_attn_mask(mut self, mask: impl Into<Option<&'a AttnMask>>) -> Self {
        self.attn_mask = mask.into();
        self
    }

    /// With the attention weights returned as `need`.
    pub fn with_weights(mut self, need: NeedWeights) -> Self {
        self.need_weights = need;
        self
    }
}

/// What one attention call returns.
#[derive(Debug, Clone)]
pub struct MhaOutput {
    /// The output `[batch, T, E]`.
    pub output: Tensor,
    /// The weights asked for: `[batch, heads, T, S]` per head, `[batch, T,
    /// S]` averaged; `None` when not asked.
    pub weights: Option<Tensor>,
}
