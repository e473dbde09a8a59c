//! [`LstmCell`]: long short-term memory (Hochreiter & Schmidhuber, 1997).

use std::fmt;

use candle_core::Tensor;
use candle_nn::ops::sigmoid;
use candle_nn::VarBuilder;
use seq_core::Result;

use super::{Cell, CellConfig, CellWeights};
use crate::State;

/// One LSTM step, PyTorch's `nn.LSTMCell`, gates in PyTorch's order i, f, g, o:
///
/// ```text
/// i_k = sigmoid(W_ii x_k + b_ii + W_hi h_{k-1} + b_hi)   input gate
/// f_k = sigmoid(W_if x_k + b_if + W_hf h_{k-1} + b_hf)   forget gate
/// g_k = tanh   (W_ig x_k + b_ig + W_hg h_{k-1} + b_hg)   candidate
/// o_k = sigmoid(W_io x_k + b_io + W_ho h_{k-1} + b_ho)   output gate
/// c_k = f_k * c_{k-1} + i_k * g_k
/// h_k = o_k * tanh(c_k)
/// ```
///
/// PyTorch names: `weight_ih` = `[W_ii; W_if; W_ig; W_io]` `[4H, I]`,
/// `weight_hh` = `[W_hi; W_hf; W_hg; W_ho]` `[4H, H]`, `bias_ih`, `bias_hh`
/// `[4H]`. The four gates are one fused `[batch, 4H]` product.
#[derive(Debug, Clone)]
pub struct LstmCell {
    weights: CellWeights,
    name: String,
}

impl LstmCell {
    /// Creates (or loads) the cell's tensors under `vb` with the bare names
    /// (`weight_ih`, ...).
    pub fn new(config: CellConfig, vb: VarBuilder) -> Result<Self> {
        Self::with_suffix(config, &vb, "", "LstmCell".into())
    }

    pub(crate) fn with_suffix(
        config: CellConfig,
        vb: &VarBuilder,
        suffix: &str,
        name: String,
    ) -> Result<Self> {
        let weights = CellWeights::new(
            vb,
            4,
            config.input_size,
            config.hidden_size,
            config.bias,
            suffix,
        )?;
        Ok(LstmCell { weights, name })
    }
}

impl Cell for LstmCell {
    fn name(&self) -> &str {
        &self.name
    }

    fn weights(&self) -> &CellWeights {
        &self.weights
    }

    fn step_projected(&self, gi: &Tensor, state: &State) -> Result<State> {
        let c_prev = match &state.c {
            Some(c) => c.clone(),
            None => self.weights.zeros(state.h.dims()[0])?,
        };
        let gates = (gi + self.weights.recur(&state.h)?)?; // [batch, 4H]
        let gates = gates.chunk(4, 1)?;
        let (i, f) = (sigmoid(&gates[0])?, sigmoid(&gates[1])?);
        let (g, o) = (gates[2].tanh()?, sigmoid(&gates[3])?);
        let c = ((f * c_prev)? + (i * g)?)?; // [batch, H]
        let h = (o * c.tanh()?)?;
        Ok(State::lstm(h, c))
    }

    fn zero_state(&self, batch: usize) -> Result<State> {
        Ok(State::lstm(
            self.weights.zeros(batch)?,
            self.weights.zeros(batch)?,
        ))
    }
}

impl fmt::Display for LstmCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.weights;
        write!(
            f,
            "LstmCell({}, {}; {} params)",
            w.input_size,
            w.hidden_size,
            w.num_params()
        )
    }
}
