//! Reductions over the time axis that ignore padded steps: what global
//! pooling layers and many-to-one readouts are made of.
//!
//! Each takes values `[batch, time, features]` and an optional mask
//! `[batch, time]` and returns `[batch, features]`. A sequence with no real
//! step gives zeros.

use candle_core::{DType, Tensor};

use crate::{Error, Result};

fn check(op: &str, values: &Tensor) -> Result<(usize, usize, usize)> {
    match values.dims() {
        &[b, t, f] if t > 0 => Ok((b, t, f)),
        dims => Err(Error::shape(
            op,
            "input",
            "[batch, time >= 1, features]",
            dims,
        )),
    }
}

/// The mean over the real steps.
pub fn mean_over_time(values: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    check("mean_over_time", values)?;
    let Some(mask) = mask else {
        return Ok(values.mean(1)?);
    };
    let mask = mask.to_dtype(values.dtype())?.unsqueeze(2)?; // [batch, time, 1]
    let count = mask.sum(1)?.clamp(1.0, f64::INFINITY)?; // [batch, 1]
    Ok(values.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&count)?)
}

/// The element-wise maximum over the real steps.
pub fn max_over_time(values: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    check("max_over_time", values)?;
    let Some(mask) = mask else {
        return Ok(values.max(1)?);
    };
    let real = mask.ne(0f64)?.unsqueeze(2)?.broadcast_as(values.shape())?;
    let lowest = Tensor::full(f64::NEG_INFINITY, values.shape(), values.device())?
        .to_dtype(values.dtype())?;
    let max = real.where_cond(values, &lowest)?.max(1)?; // [batch, features]
                                                         // Sequences with no real step: -inf becomes 0.
    let any = mask.max_keepdim(1)?.ne(0f64)?.broadcast_as(max.shape())?;
    Ok(any.where_cond(&max, &max.zeros_like()?)?)
}

/// The values at each sequence's last real step (the largest index whose
/// mask is 1).
pub fn last_over_time(values: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, t, f) = check("last_over_time", values)?;
    let Some(mask) = mask else {
        return Ok(values.narrow(1, t - 1, 1)?.squeeze(1)?);
    };
    let mask = mask.to_dtype(DType::F32)?;
    let steps = Tensor::arange(1f32, t as f32 + 1.0, values.device())?;
    let last = mask.broadcast_mul(&steps)?.max_keepdim(1)?; // [batch, 1]: 1 + index, 0 when empty
    let index = last
        .affine(1.0, -1.0)?
        .clamp(0.0, f64::INFINITY)?
        .to_dtype(DType::U32)?;
    let index = index.unsqueeze(2)?.broadcast_as((b, 1, f))?.contiguous()?;
    let any = mask.max_keepdim(1)?.to_dtype(values.dtype())?; // [batch, 1]
    Ok(values.gather(&index, 1)?.squeeze(1)?.broadcast_mul(&any)?)
}
