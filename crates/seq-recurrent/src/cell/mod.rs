//! The recurrent cells: one time step each.
//!
//! Each cell holds PyTorch's four tensors for one layer and direction:
//! `weight_ih` `[G*H, I]`, `weight_hh` `[G*H, H]`, `bias_ih` `[G*H]`,
//! `bias_hh` `[G*H]`, with `G` gates (1 for the Elman RNN, 4 for the LSTM,
//! 3 for the GRU) stacked in PyTorch's order. A layer names them with its
//! suffix (`weight_ih_l0`, `weight_hh_l1_reverse`, ...); a cell on its own
//! uses them bare, as `nn.LSTMCell` does.

mod gru;
mod lstm;
mod rnn;

pub use gru::GruCell;
pub use lstm::LstmCell;
pub use rnn::{RnnCell, RnnCellConfig};

/// The sizes of an [`LstmCell`] or [`GruCell`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CellConfig {
    /// Input features `I`.
    pub input_size: usize,
    /// Hidden units `H`.
    pub hidden_size: usize,
    /// Whether the cell has `bias_ih` and `bias_hh` (default true).
    pub bias: bool,
}

impl CellConfig {
    /// `I` inputs, `H` hidden units, with biases.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        CellConfig {
            input_size,
            hidden_size,
            bias: true,
        }
    }

    /// With or without biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{Error, Init, Result};

use crate::State;

/// One step of a recurrent network, split as the fast path needs it: the
/// input projection for all time steps is one matrix product
/// ([`Cell::project`]), and only the hidden product stays in the time loop
/// ([`Cell::step_projected`]).
pub trait Cell {
    /// The cell's name in errors: `LstmCell`, `Lstm layer 1 (reverse)`, ...
    fn name(&self) -> &str;

    /// The shared weights.
    fn weights(&self) -> &CellWeights;

    /// One step from the projected input `gi = W_ih x<t> + b_ih` `[batch, G*H]`.
    fn step_projected(&self, gi: &Tensor, state: &State) -> Result<State>;

    /// The zero state for `batch` sequences, in the weights' dtype and device.
    fn zero_state(&self, batch: usize) -> Result<State>;

    /// `W_ih x + b_ih` for inputs `[n, I]`: `[n, G*H]`.
    fn project(&self, x: &Tensor) -> Result<Tensor> {
        self.weights().project(x)
    }

    /// One step: `x<t>` `[batch, I]` and the state, to the new state.
    fn step(&self, x: &Tensor, state: &State) -> Result<State> {
        let w = self.weights();
        if x.rank() != 2 || x.dims()[1] != w.input_size {
            return Err(Error::shape(
                self.name(),
                "input",
                format!("[batch, {}]", w.input_size),
                x.dims(),
            ));
        }
        self.check_state(x.dims()[0], state)?;
        self.step_projected(&self.project(x)?, state)
    }

    /// Checks that `state` fits `batch` sequences of this cell.
    fn check_state(&self, batch: usize, state: &State) -> Result<()> {
        let h = self.weights().hidden_size;
        for (what, t) in
            std::iter::once(("state h", &state.h)).chain(state.c.iter().map(|c| ("state c", c)))
        {
            if t.dims() != [batch, h] {
                return Err(Error::shape(
                    self.name(),
                    what,
                    format!("[{batch}, {h}]"),
                    t.dims(),
                ));
            }
        }
        Ok(())
    }
}

/// PyTorch's four tensors of one layer and direction, with `G` gates.
#[derive(Debug, Clone)]
pub struct CellWeights {
    /// `W_ih` `[G*H, I]`: the input weights of all gates.
    pub weight_ih: Tensor,
    /// `W_hh` `[G*H, H]`: the recurrent weights of all gates.
    pub weight_hh: Tensor,
    /// `b_ih` `[G*H]`, if the cell has biases.
    pub bias_ih: Option<Tensor>,
    /// `b_hh` `[G*H]`, if the cell has biases.
    pub bias_hh: Option<Tensor>,
    /// `I`.
    pub input_size: usize,
    /// `H`.
    pub hidden_size: usize,
}

impl CellWeights {
    /// Creates (or loads) `weight_ih{suffix}`, `weight_hh{suffix}` and, with
    /// `bias`, `bias_ih{suffix}`, `bias_hh{suffix}`, all drawn from
    /// `U(-1/sqrt(H), 1/sqrt(H))` as PyTorch does.
    pub fn new(
        vb: &VarBuilder,
        gates: usize,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        suffix: &str,
    ) -> Result<Self> {
        if input_size == 0 || hidden_size == 0 {
            return Err(Error::config(
                "recurrent cell",
                format!("sizes must be positive, got input {input_size}, hidden {hidden_size}"),
            ));
        }
        let gh = gates * hidden_size;
        let init = Init::torch_default(hidden_size).to_hint(&gh.into())?;
        let get = |name: &str, shape: &[usize]| {
            vb.get_with_hints(shape, &format!("{name}{suffix}"), init)
        };
        Ok(CellWeights {
            weight_ih: get("weight_ih", &[gh, input_size])?,
            weight_hh: get("weight_hh", &[gh, hidden_size])?,
            bias_ih: bias.then(|| get("bias_ih", &[gh])).transpose()?,
            bias_hh: bias.then(|| get("bias_hh", &[gh])).transpose()?,
            input_size,
            hidden_size,
        })
    }

    /// `x W_ih^T + b_ih`: `[n, I]` to `[n, G*H]`.
    pub fn project(&self, x: &Tensor) -> Result<Tensor> {
        let gi = x.matmul(&self.weight_ih.t()?)?;
        Ok(match &self.bias_ih {
            Some(b) => gi.broadcast_add(b)?,
            None => gi,
        })
    }

    /// `h W_hh^T + b_hh`: `[batch, H]` to `[batch, G*H]`.
    pub fn recur(&self, h: &Tensor) -> Result<Tensor> {
        let gh = h.matmul(&self.weight_hh.t()?)?;
        Ok(match &self.bias_hh {
            Some(b) => gh.broadcast_add(b)?,
            None => gh,
        })
    }

    /// Zeros `[batch, H]`.
    pub fn zeros(&self, batch: usize) -> Result<Tensor> {
        Ok(Tensor::zeros(
            (batch, self.hidden_size),
            self.weight_hh.dtype(),
            self.weight_hh.device(),
        )?)
    }

    /// The number of scalar parameters.
    pub fn num_params(&self) -> usize {
        let b = self.bias_ih.as_ref().map_or(0, |b| 2 * b.elem_count());
        self.weight_ih.elem_count() + self.weight_hh.elem_count() + b
    }
}
