//! Scaled dot-product attention (Vaswani et al., 2017): [`attention`],
//! fused on the CPU, and [`scaled_dot_product_attention`], the composed
//! path that also returns the weights.

use candle_core::{DType, Tensor};
use seq_core::{softmax, Dropout, Engine, Error, Mode, Result};

use crate::flash::{self, DropMask, Spec};
use crate::mask::{key_padding_bias, key_padding_bytes};
use crate::AttnMask;

/// The masks of one attention call (seq's convention: 1 = may attend).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttnMasks<'a> {
    /// `[batch, S]`: 1 for a real key, 0 for padding.
    pub key_padding: Option<&'a Tensor>,
    /// Which queries may see which keys (e.g. [`AttnMask::causal`]).
    pub attn: Option<&'a AttnMask>,
}

impl<'a> AttnMasks<'a> {
    /// No mask.
    pub fn none() -> Self {
        AttnMasks::default()
    }

    /// With a key padding mask `[batch, S]`.
    pub fn with_key_padding(mut self, mask: Option<&'a Tensor>) -> Self {
        self.key_padding = mask;
        self
    }

    /// With an attention mask.
    pub fn with_attn(mut self, mask: Option<&'a AttnMask>) -> Self {
        self.attn = mask;
        self
    }

    /// Both masks as one additive bias broadcast to `[batch, heads, T, S]`.
    pub(crate) fn bias(
        &self,
        dtype: DType,
        (b, h, t, s): (usize, usize, usize, usize),
    ) -> Result<Option<Tensor>> {
        let mut bias = match self.attn {
            Some(m) => Some(m.bias(dtype, b, h, t, s)?),
            None => None,
        };
        if let Some(m) = self.key_padding {
            let kp = key_padding_bias(m, dtype, b, s)?;
            bias = Some(match bias {
                Some(a) => a.broadcast_add(&kp)?,
                None => kp,
            });
        }
        Ok(bias)
    }

    /// The fused op's view of the masks, or `None` when it cannot take
    /// them (an additive mask that needs its own gradient).
    fn spec(
        &self,
        dtype: DType,
        (b, h, t, s): (usize, usize, usize, usize),
        d: usize,
    ) -> Result<Option<Spec>> {
        let mut spec = Spec {
            scale: 1.0 / (d as f64).sqrt(),
            causal: None,
            keys: None,
            bias: None,
            dropout: None,
        };
        match self.attn {
            Some(m @ AttnMask::Causal { offset, .. }) => {
                m.check_causal(t, s)?;
                spec.causal = Some(*offset);
            }
            Some(AttnMask::Additive(m)) if m.track_op() => return Ok(None),
            Some(m) => {
                let bias = m.bias(dtype, b, h, t, s)?.contiguous()?;
                spec.bias = Some(bias);
            }
            None => {}
        }
        if let Some(m) = self.key_padding {
            spec.keys = Some(key_padding_bytes(m, b, s)?);
        }
        Ok(Some(spec))
    }
}

/// The attention-dropout mask of this step, `None` when nothing drops;
/// `per_row` is the number of weights of one sequence (`H * T * S`).
fn drop_mask(dropout: Option<(&Dropout, Mode)>, per_row: usize) -> Option<DropMask> {
    match dropout {
        Some((d, mode)) if mode.is_train() && d.p() > 0.0 => Some(DropMask {
            keep: 1.0 - d.p(),
            key: d.next_key(),
            first: seq_core::rng::row_offset() * per_row as u64,
        }),
        _ => None,
    }
}

/// Checks `q` `[batch, heads, T, d]`, `k` `[batch, heads, S, d]`, `v`
/// `[batch, heads, S, d_v]`; returns `(b, h, t, s, d)`.
fn check(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<(usize, usize, usize, usize, usize)> {
    let (b, h, t, d) = q.dims4()?;
    let (kb, kh, s, kd) = k.dims4()?;
    if (kb, kh, kd) != (b, h, d) || v.rank() != 4 || v.dims()[..3] != [b, h, s] {
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
    Ok((b, h, t, s, d))
}

/// `softmax(Q K^T / sqrt(d) + mask) V` without the weights, heads merged:
/// `[batch, T, heads * d_v]`.
///
/// With [`Engine::Fused`] on the CPU in f32 or f64 this is one op with its
/// own backward that never holds the `T x S` scores whole (tiles of
/// 64 x 64, FlashAttention-2's running maximum and sum; causal tiles wholly
/// above the diagonal are skipped); otherwise, and for an additive mask
/// that needs a gradient, it is the composed path.
pub(crate) fn attention_merged(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    masks: AttnMasks,
    dropout: Option<(&Dropout, Mode)>,
    engine: Engine,
) -> Result<Tensor> {
    let (b, h, t, s, d) = check(q, k, v)?;
    if engine == Engine::Fused && seq_core::cpu::supports(q) {
        if let Some(mut spec) = masks.spec(q.dtype(), (b, h, t, s), d)? {
            spec.dropout = drop_mask(dropout, h * t * s);
            return flash::separate(q, k, v, spec);
        }
    }
    let bias = masks.bias(q.dtype(), (b, h, t, s))?;
    let (out, _) = scaled_dot_product_attention(q, k, v, bias.as_ref(), dropout)?;
    merge_heads(&out)
}

/// Self-attention over a packed projection `qkv` `[batch, T, 3E]` (queries,
/// keys, values side by side) with `heads` heads: `[batch, T, E]`. Fused as
/// [`attention_merged`] is, reading the heads where they lie.
pub(crate) fn self_attention_packed(
    qkv: &Tensor,
    heads: usize,
    masks: AttnMasks,
    dropout: Option<(&Dropout, Mode)>,
    engine: Engine,
) -> Result<Tensor> {
    let (b, t, e3) = qkv.dims3()?;
    let e = e3 / 3;
    let d = e / heads;
    if engine == Engine::Fused && seq_core::cpu::supports(qkv) {
        if let Some(mut spec) = masks.spec(qkv.dtype(), (b, heads, t, t), d)? {
            spec.dropout = drop_mask(dropout, heads * t * t);
            return flash::packed(qkv, heads, spec);
        }
    }
    let part = |i: usize| split_heads(&qkv.narrow(2, i * e, e)?, heads);
    attention_merged(
        &part(0)?,
        &part(1)?,
        &part(2)?,
        masks,
        dropout,
        Engine::Composed,
    )
}

/// `softmax(Q K^T / sqrt(d) + mask) V` per batch and head, without the
/// weights: the fused op where it applies (see [`Engine`]).
///
/// # Parameters
/// - `q` `[batch, heads, T, d]`, `k` `[batch, heads, S, d]`, `v` `[batch, heads, S, d_v]`,
///   any strides.
/// - `masks`: key padding `[batch, S]` and an [`AttnMask`].
/// - `dropout`: on the attention weights, in training; the mask of each
///   weight is a hash of its position and the step, so both engines drop
///   the same weights.
///
/// # Returns
/// `[batch, heads, T, d_v]`.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    masks: AttnMasks,
    dropout: Option<(&Dropout, Mode)>,
    engine: Engine,
) -> Result<Tensor> {
    let (b, h, t, _, _) = check(q, k, v)?;
    let dv = v.dims()[3];
    let merged = attention_merged(q, k, v, masks, dropout, engine)?;
    Ok(merged.reshape((b, t, h, dv))?.transpose(1, 2)?)
}

/// `softmax(Q K^T / sqrt(d) + bias) V`, per batch and head, composed of
/// candle ops, with the weights.
///
/// # Parameters
/// - `q` `[batch, heads, T, d]`, `k` `[batch, heads, S, d]`, `v` `[batch, heads, S, d_v]`.
/// - `bias`: added to the scores, broadcast to `[batch, heads, T, S]`
///   (masks become large negative numbers, see [`AttnMask`](crate::AttnMask)).
/// - `dropout`: on the attention weights, in training (the same masks as
///   [`attention`]'s).
///
/// # Returns
/// The outputs `[batch, heads, T, d_v]` and the weights `[batch, heads, T, S]`
/// (before dropout).
///
/// The softmax is seq's, with a backward: candle's fused
/// `softmax_last_dim` and `sdpa` have none.
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    dropout: Option<(&Dropout, Mode)>,
) -> Result<(Tensor, Tensor)> {
    let (b, h, t, s, d) = check(q, k, v)?;
    let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?; // [b, h, T, S]
    let scores = match bias {
        Some(bias) => scores.broadcast_add(bias)?,
        None => scores,
    };
    let weights = softmax(&scores)?;
    let dropped = match drop_mask(dropout, h * t * s) {
        Some(mask) => {
            let scale = 1.0 / mask.keep;
            let n = (b * h * t * s) as u64;
            let keep: Vec<f64> = (0..n)
                .map(|i| if mask.kept(i) { scale } else { 0.0 })
                .collect();
            let keep = Tensor::from_vec(keep, (b, h, t, s), &candle_core::Device::Cpu)?
                .to_dtype(weights.dtype())?
                .to_device(weights.device())?;
            (&weights * keep)?
        }
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
