//! [`RnnCell`]: the Elman recurrent network (Elman, 1990) as the course
//! writes it.

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{Activation, Error, Linear, LinearConfig, Result};

use super::{Cell, CellWeights};
use crate::State;

/// The sizes and activations of an [`RnnCell`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RnnCellConfig {
    /// Input features (the size of `x<t>`).
    pub input_size: usize,
    /// Hidden units (the size of `a<t>`).
    pub hidden_size: usize,
    /// Whether `b_a` exists (PyTorch's `bias_ih` + `bias_hh`; default true).
    pub bias: bool,
    /// `g1`, the hidden activation (default tanh; PyTorch allows tanh or relu).
    pub activation: Activation,
    /// The optional output layer `y<t> = g2(W_ya a<t> + b_y)`: its width and `g2`.
    pub output: Option<(usize, Activation)>,
}

impl RnnCellConfig {
    /// `x<t>` of `input_size`, `a<t>` of `hidden_size`, tanh, no output layer.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RnnCellConfig {
            input_size,
            hidden_size,
            bias: true,
            activation: Activation::Tanh,
            output: None,
        }
    }

    /// With `g1`.
    pub fn with_activation(mut self, g1: Activation) -> Self {
        self.activation = g1;
        self
    }

    /// With the output layer `y<t> = g2(W_ya a<t> + b_y)` of `size` units.
    pub fn with_output(mut self, size: usize, g2: Activation) -> Self {
        self.output = Some((size, g2));
        self
    }
}

/// One step of the Elman RNN, exactly as the course writes it:
///
/// ```text
/// a<t> = g1(W_aa a<t-1> + W_ax x<t> + b_a)
/// y<t> = g2(W_ya a<t> + b_y)              (optional output layer)
/// ```
///
/// PyTorch names (`nn.RNNCell`): `W_ax` is `weight_ih` `[H, I]`, `W_aa` is
/// `weight_hh` `[H, H]`, and `b_a` is split as `bias_ih + bias_hh` `[H]`.
/// The output layer is `output.weight` (`W_ya`, `[O, H]`) and `output.bias`
/// (`b_y`, `[O]`).
#[derive(Debug, Clone)]
pub struct RnnCell {
    weights: CellWeights,
    activation: Activation,
    output: Option<(Linear, Activation)>,
    name: String,
}

impl RnnCell {
    /// Creates (or loads) the cell's tensors under `vb` with the bare names.
    pub fn new(config: RnnCellConfig, vb: VarBuilder) -> Result<Self> {
        let output = match config.output {
            Some((size, g2)) => Some((
                Linear::new(LinearConfig::new(config.hidden_size, size), vb.pp("output"))?,
                g2,
            )),
            None => None,
        };
        let mut cell = Self::with_suffix(config, &vb, "", "RnnCell".into())?;
        cell.output = output;
        Ok(cell)
    }

    pub(crate) fn with_suffix(
        config: RnnCellConfig,
        vb: &VarBuilder,
        suffix: &str,
        name: String,
    ) -> Result<Self> {
        if !matches!(
            config.activation,
            Activation::Tanh | Activation::Relu | Activation::Sigmoid | Activation::Identity
        ) {
            return Err(Error::config(
                &name,
                format!(
                    "g1 must be element-wise (tanh, relu, sigmoid, identity), got {}",
                    config.activation
                ),
            ));
        }
        let weights = CellWeights::new(
            vb,
            1,
            config.input_size,
            config.hidden_size,
            config.bias,
            suffix,
        )?;
        Ok(RnnCell {
            weights,
            activation: config.activation,
            output: None,
            name,
        })
    }

    /// `y<t> = g2(W_ya a<t> + b_y)` for hidden states `a` `[..., H]`, or
    /// `None` when the cell has no output layer.
    pub fn output(&self, a: &Tensor) -> Result<Option<Tensor>> {
        match &self.output {
            Some((w_ya, g2)) => Ok(Some(g2.apply(&w_ya.apply(a)?)?)),
            None => Ok(None),
        }
    }
}

impl Cell for RnnCell {
    fn name(&self) -> &str {
        &self.name
    }

    fn weights(&self) -> &CellWeights {
        &self.weights
    }

    fn step_projected(&self, gi: &Tensor, state: &State) -> Result<State> {
        // gi = W_ax x<t> + b_ih; recur adds W_aa a<t-1> + b_hh.
        let a = self
            .activation
            .apply(&(gi + self.weights.recur(&state.h)?)?)?;
        Ok(State::new(a))
    }

    fn zero_state(&self, batch: usize) -> Result<State> {
        Ok(State::new(self.weights.zeros(batch)?))
    }
}

impl fmt::Display for RnnCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.weights;
        write!(
            f,
            "RnnCell({}, {}, g1={}",
            w.input_size, w.hidden_size, self.activation
        )?;
        if let Some((lin, g2)) = &self.output {
            write!(f, ", output={lin}, g2={g2}")?;
        }
        write!(f, "; {} params)", w.num_params())
    }
}
