//! [`GruCell`]: the gated recurrent unit (Cho et al., 2014).

use std::fmt;

use candle_core::Tensor;
use candle_nn::ops::sigmoid;
use candle_nn::VarBuilder;
use seq_core::Result;

use super::{Cell, CellConfig, CellWeights};
use crate::State;

/// One GRU step, PyTorch's `nn.GRUCell`, gates in PyTorch's order r, z, n,
/// the reset gate applied after the hidden product:
///
/// ```text
/// r_k = sigmoid(W_ir x_k + b_ir + W_hr h_{k-1} + b_hr)        reset gate
/// z_k = sigmoid(W_iz x_k + b_iz + W_hz h_{k-1} + b_hz)        update gate
/// n_k = tanh(W_in x_k + b_in + r_k * (W_hn h_{k-1} + b_hn))   candidate
/// h_k = (1 - z_k) * n_k + z_k * h_{k-1}
/// ```
///
/// PyTorch names: `weight_ih` = `[W_ir; W_iz; W_in]` `[3H, I]`, `weight_hh`
/// = `[W_hr; W_hz; W_hn]` `[3H, H]`, `bias_ih`, `bias_hh` `[3H]`. The hidden
/// product of the three gates is one fused `[batch, 3H]` product.
#[derive(Debug, Clone)]
pub struct GruCell {
    weights: CellWeights,
    name: String,
}

impl GruCell {
    /// Creates (or loads) the cell's tensors under `vb` with the bare names.
    pub fn new(config: CellConfig, vb: VarBuilder) -> Result<Self> {
        Self::with_suffix(config, &vb, "", "GruCell".into())
    }

    pub(crate) fn with_suffix(
        config: CellConfig,
        vb: &VarBuilder,
        suffix: &str,
        name: String,
    ) -> Result<Self> {
        let weights = CellWeights::new(
            vb,
            3,
            config.input_size,
            config.hidden_size,
            config.bias,
            suffix,
        )?;
        Ok(GruCell { weights, name })
    }
}

impl Cell for GruCell {
    fn name(&self) -> &str {
        &self.name
    }

    fn weights(&self) -> &CellWeights {
        &self.weights
    }

    fn step_projected(&self, gi: &Tensor, state: &State) -> Result<State> {
        let h_prev = &state.h;
        let gh = self.weights.recur(h_prev)?; // [batch, 3H]
        let (gi, gh) = (gi.chunk(3, 1)?, gh.chunk(3, 1)?);
        let r = sigmoid(&(&gi[0] + &gh[0])?)?;
        let z = sigmoid(&(&gi[1] + &gh[1])?)?;
        let n = (&gi[2] + (r * &gh[2])?)?.tanh()?;
        // (1 - z) * n + z * h = n + z * (h - n)
        let h = (&n + (z * (h_prev - &n)?)?)?;
        Ok(State::new(h))
    }

    fn zero_state(&self, batch: usize) -> Result<State> {
        Ok(State::new(self.weights.zeros(batch)?))
    }
}

impl fmt::Display for GruCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.weights;
        write!(
            f,
            "GruCell({}, {}; {} params)",
            w.input_size,
            w.hidden_size,
            w.num_params()
        )
    }
}
