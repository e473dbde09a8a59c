//! [`scaled_dot_product_attention`]: the attention of Vaswani et al. (2017),
//! differentiable end to end.

use candle_core::Tensor;
use seq_core::{softmax, Dropout, Error, Mode, Result};

/// `softmax(Q K^T / sqrt(d) + bias) V`, per batch and head.
///
/// # Parameters
/// - `q` `[batch, heads, T, d]`, `k` `[batch, heads, S, d]`, `v` `[batch, heads, S, d_v]`.
/// - `bias`: added to the scores, broadcast to `[batch, heads, T, S]`
///   (masks become large negative numbers, see [`AttnMask`](crate::AttnMask)).
/// - `dropout`: on the attention weights, in training.
///
/// # Returns
/// The outputs `[batch, heads, T, d_v]` and the weights `[batch, heads, T, S]`.
///
/// The softmax is seq's composition, with a backward: candle's fused
/// `softmax_last_dim` and `sdpa` have none.
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    dropout: Option<(&Dropout, Mode)>,
) -> Result<(Tensor, Tensor)> {
    let (b, h, t, d) = q.dims4()?;
    let (kb, kh, s, kd) = k.dims4()?;
    if (kb, kh, kd) != (b, h, d) || v.dims()[..3] != [b, h, s] {
        return Err(Error::shape(
            "scaled_dot_product_attention",
            "key/value",
            format!("[{b}, {h}, S, {d}] for keys and [{b}, {h}, S, d_v] for values"),
            &[k.dims(), v.dims()].concat(),
        ));
    }
    if t == 0 || s == 0 {
        return Err(Error::shape(
            "scaled_dot_product_attention",
            "queries and keys",
            "at least one step each",
            &[t, s],
        ));
    }
    let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?; // [b, h, T, S]
    let scores = match bias {
        Some(bias) => scores.broadcast_add(bias)?,
        None => scores,
    };
    let weights = softmax(&scores)?;
    let dropped = match dropout {
        Some((drop, mode)) => drop.apply(&weights, mode)?,
        None => weights.clone(),
    };
    Ok((dropped.matmul(&v.contiguous()?)?, weights))
}

/// Splits `[batch, T, heads * d]` into heads: `[batch, heads, T, d]`.
pub(crate) fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, e) = x.dims3()?;
    Ok(x.reshape((b, t, heads, e / heads))?
        .transpose(1, 2)?
        .contiguous()?)
}

/// Joins heads back: `[batch, heads, T, d]` to `[batch, T, heads * d]`.
pub(crate) fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    Ok(x.transpose(1, 2)?.contiguous()?.reshape((b, t, h * d))?)
}
