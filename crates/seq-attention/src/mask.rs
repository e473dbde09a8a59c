//! Attention masks: which keys each query may attend to.
//!
//! seq's convention matches its `Seq` masks: 1 (or true) means "may
//! attend", 0 means "masked". PyTorch's boolean masks mean the opposite
//! (true = masked); convert with `mask.eq(0)` when porting.

use candle_core::{DType, Tensor};
use seq_core::{Error, Result};

/// A mask over attention scores `[..., T, S]` (T queries, S keys).
#[derive(Debug, Clone)]
pub enum AttnMask {
    /// 1 where a query may attend to a key, 0 where not; `[T, S]`,
    /// `[batch, T, S]` or `[batch, heads, T, S]`.
    Allowed(Tensor),
    /// Added to the scores before the softmax (0 to keep, a large negative
    /// number to mask, or any bias); same shapes.
    Additive(Tensor),
    /// Query `i` of `queries` may attend to keys `0..=i + offset`: the mask
    /// of [`AttnMask::causal`], kept as a rule so that the fused attention
    /// skips the key tiles it masks instead of computing them.
    Causal {
        /// `T`, the number of queries.
        queries: usize,
        /// Keys cached before the first query.
        offset: usize,
        /// Where the mask is made when a tensor is needed.
        device: candle_core::Device,
    },
}

impl AttnMask {
    /// The causal mask of "Attention Is All You Need": query `t` may attend
    /// to keys `0..=t + offset` (`offset` keys already cached before the `T`
    /// queries). Shape `[T, offset + T]`.
    pub fn causal(t: usize, offset: usize, device: &candle_core::Device) -> Result<Self> {
        Ok(AttnMask::Causal {
            queries: t,
            offset,
            device: device.clone(),
        })
    }

    /// The mask as a tensor `[T, S]` of 1 (may attend) and 0, or the
    /// additive bias, with whether it is additive.
    fn tensor(&self) -> Result<(Tensor, bool)> {
        Ok(match self {
            AttnMask::Allowed(m) => (m.clone(), false),
            AttnMask::Additive(m) => (m.clone(), true),
            AttnMask::Causal {
                queries: t,
                offset,
                device,
            } => {
                let (t, offset) = (*t, *offset);
                let s = offset.checked_add(t).ok_or_else(|| {
                    Error::config(
                        "AttnMask",
                        format!("causal mask of {t} queries after {offset} keys overflows"),
                    )
                })?;
                let allowed: Vec<u8> = (0..t)
                    .flat_map(|i| (0..s).map(move |j| u8::from(j <= i + offset)))
                    .collect();
                (Tensor::from_vec(allowed, (t, s), device)?, false)
            }
        })
    }

    /// The mask as an additive bias `[1, 1, T, S]` (for a `[T, S]` mask),
    /// ready for [`scaled_dot_product_attention`](crate::scaled_dot_product_attention).
    pub fn allowed_as_bias(&self, dtype: DType) -> Result<Tensor> {
        let (t, _) = self.tensor()?;
        match t.dims() {
            &[q, k] => self.bias(dtype, 1, 1, q, k),
            dims => Err(Error::shape("AttnMask", "mask", "[T, S]", dims)),
        }
    }

    /// For a causal mask: whether it is made for `t` queries over `s` keys.
    pub(crate) fn check_causal(&self, t: usize, s: usize) -> Result<()> {
        match self {
            AttnMask::Causal {
                queries, offset, ..
            } if *queries != t || offset + t != s => Err(Error::shape(
                "attention",
                "causal attn_mask",
                format!("[{t}, {s}]"),
                &[*queries, offset + queries],
            )),
            _ => Ok(()),
        }
    }

    /// The additive bias `[batch or 1, heads or 1, T, S]` in `dtype`.
    pub(crate) fn bias(
        &self,
        dtype: DType,
        batch: usize,
        heads: usize,
        t: usize,
        s: usize,
    ) -> Result<Tensor> {
        self.check_causal(t, s)?;
        let (tensor, additive) = self.tensor()?;
        let dims = tensor.dims();
        let fits = match dims {
            [a, b] => [*a, *b] == [t, s],
            [b0, a, b] => *b0 == batch && [*a, *b] == [t, s],
            [b0, h, a, b] => *b0 == batch && *h == heads && [*a, *b] == [t, s],
            _ => false,
        };
        if !fits {
            return Err(Error::shape(
                "attention",
                "attn_mask",
                format!("[{t}, {s}], [{batch}, {t}, {s}] or [{batch}, {heads}, {t}, {s}]"),
                dims,
            ));
        }
        let bias = if additive {
            tensor.to_dtype(dtype)?
        } else {
            let masked = tensor.eq(0u8)?.to_dtype(dtype)?; // 1 where masked
            (masked * neg_large(dtype))?
        };
        Ok(match bias.rank() {
            2 => bias.reshape((1, 1, t, s))?,
            3 => bias.unsqueeze(1)?,
            _ => bias,
        })
    }
}

/// The additive bias `[batch, 1, 1, S]` of a key padding mask `[batch, S]`
/// (1 = real key, 0 = padding).
pub(crate) fn key_padding_bias(
    mask: &Tensor,
    dtype: DType,
    batch: usize,
    s: usize,
) -> Result<Tensor> {
    check_key_padding(mask, batch, s)?;
    let masked = mask.eq(0u8)?.to_dtype(dtype)?;
    Ok((masked * neg_large(dtype))?.reshape((batch, 1, 1, s))?)
}

/// A key padding mask `[batch, S]` as bytes, 1 for a real key, 0 for
/// padding: what the fused attention reads.
pub(crate) fn key_padding_bytes(mask: &Tensor, batch: usize, s: usize) -> Result<Vec<u8>> {
    check_key_padding(mask, batch, s)?;
    Ok(mask.ne(0u8)?.flatten_all()?.to_vec1::<u8>()?)
}

fn check_key_padding(mask: &Tensor, batch: usize, s: usize) -> Result<()> {
    if mask.dims() != [batch, s] {
        return Err(Error::shape(
            "attention",
            "key_padding_mask",
            format!("[{batch}, {s}]"),
            mask.dims(),
        ));
    }
    Ok(())
}

/// A large negative score that masks a key without making a fully masked
/// row NaN (it becomes uniform instead), in range for the dtype.
pub(crate) fn neg_large(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -3.0e4,
        _ => -1.0e30,
    }
}

/// Attention needs at least one step on each side: `x` `[batch, time, ..]`
/// with `time == 0` is an error naming `layer` and `what`.
pub(crate) fn at_least_one_step(layer: &str, what: &str, x: &Tensor) -> Result<()> {
    match x.dims().get(1) {
        Some(0) => Err(Error::shape(
            layer,
            what,
            "[batch, time >= 1, features]",
            x.dims(),
        )),
        _ => Ok(()),
    }
}
