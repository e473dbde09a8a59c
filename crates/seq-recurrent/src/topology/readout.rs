//! Many-to-one: one vector per sequence from a layer's per-step outputs.

use std::fmt;

use candle_core::{DType, Tensor, D};
use seq_core::{Error, Mode, Module, Result, Seq};

use crate::{RecurrentConfig, State};

/// How [`ManyToOne`] reduces the time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readout {
    /// The output at each sequence's last real step.
    #[default]
    Last,
    /// The mean over the real steps.
    Mean,
    /// The element-wise maximum over the real steps.
    Max,
}

/// Reduces `[batch, time, features]` to `[batch, features]`, ignoring padded
/// steps. A sequence with no real step reads as zeros.
pub fn readout(xs: &Seq, how: Readout) -> Result<Tensor> {
    let values = xs.values();
    if values.rank() != 3 {
        return Err(Error::shape(
            "ManyToOne",
            "input",
            "[batch, time, features]",
            values.dims(),
        ));
    }
    let (b, t, f) = values.dims3()?;
    let Some(mask) = xs.mask() else {
        return Ok(match how {
            Readout::Last => values.narrow(1, t - 1, 1)?.squeeze(1)?,
            Readout::Mean => values.mean(1)?,
            Readout::Max => values.max(1)?,
        });
    };
    let mask3 = mask.unsqueeze(2)?.to_dtype(values.dtype())?; // [batch, time, 1]
    Ok(match how {
        Readout::Last => {
            // The last real step: the largest index t with mask 1.
            let steps =
                Tensor::arange(1f32, t as f32 + 1.0, values.device())?.to_dtype(values.dtype())?;
            let last = mask.broadcast_mul(&steps)?.max_keepdim(1)?; // [batch, 1], 0 when empty
            let index =
                (last.affine(1.0, -1.0)?.clamp(0.0, f64::INFINITY)?).to_dtype(DType::U32)?;
            let index = index.unsqueeze(2)?.broadcast_as((b, 1, f))?.contiguous()?;
            let any = mask.max_keepdim(1)?; // [batch, 1]
            values.gather(&index, 1)?.squeeze(1)?.broadcast_mul(&any)?
        }
        Readout::Mean => {
            let count = mask3.sum(1)?.clamp(1.0, f64::INFINITY)?; // [batch, 1]
            values
                .broadcast_mul(&mask3)?
                .sum(1)?
                .broadcast_div(&count)?
        }
        Readout::Max => {
            let masked = mask3.broadcast_as(values.shape())?.ne(0f64)?;
            let neg = Tensor::full(f64::NEG_INFINITY, values.shape(), values.device())?
                .to_dtype(values.dtype())?;
            let max = masked.where_cond(values, &neg)?.max(1)?;
            // Sequences with no real step: -inf becomes 0.
            let any = mask.max_keepdim(1)?.ne(0f64)?.broadcast_as(max.shape())?;
            any.where_cond(&max, &max.zeros_like()?)?
        }
    })
}

/// The last layer's final state, both directions concatenated: `[batch,
/// directions * H]`; with a bidirectional layer this is the usual input of
/// a classifier head (forward state at the last real step, backward state
/// at the first).
pub fn last_layer_state(state: &State, config: &RecurrentConfig) -> Result<Tensor> {
    let d = config.directions();
    let rows = state.h.dims()[0];
    let last: Vec<Tensor> = (rows - d..rows)
        .map(|r| state.h.get(r))
        .collect::<candle_core::Result<_>>()?;
    Ok(Tensor::cat(&last, D::Minus1)?)
}

/// A [`Module`] that reads one vector per sequence: `[batch, time, F]` to
/// `[batch, 1, F]` (no mask: every output step is real).
#[derive(Debug, Clone, Copy, Default)]
pub struct ManyToOne {
    /// The reduction.
    pub readout: Readout,
}

impl ManyToOne {
    /// A many-to-one readout.
    pub fn new(readout: Readout) -> Self {
        ManyToOne { readout }
    }
}

impl Module for ManyToOne {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        Seq::new(readout(xs, self.readout)?.unsqueeze(1)?)
    }
}

impl fmt::Display for ManyToOne {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManyToOne({:?})", self.readout)
    }
}
