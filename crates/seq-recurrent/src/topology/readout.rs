//! Many-to-one: one vector per sequence from a layer's per-step outputs.

use std::fmt;

use candle_core::{Tensor, D};
use seq_core::{pool, Error, Mode, Module, Result, Seq};

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
    let (values, mask) = (xs.values(), xs.mask());
    if values.rank() != 3 {
        return Err(Error::shape(
            "ManyToOne",
            "input",
            "[batch, time, features]",
            values.dims(),
        ));
    }
    match how {
        Readout::Last => pool::last_over_time(values, mask),
        Readout::Mean => pool::mean_over_time(values, mask),
        Readout::Max => pool::max_over_time(values, mask),
    }
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
