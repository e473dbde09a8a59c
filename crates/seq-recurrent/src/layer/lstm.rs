//! [`Lstm`]: the LSTM layer, PyTorch's `nn.LSTM` (batch-first).

use candle_nn::VarBuilder;
use seq_core::Result;

use super::stack::Stack;
use super::RecurrentConfig;
use crate::cell::{CellConfig, LstmCell};
use crate::fused::Kind;

/// A stack of [`LstmCell`]s unrolled over time, PyTorch's `nn.LSTM` with
/// `batch_first=True`.
///
/// At every step `k` of layer `l` (direction suffix `_reverse` for the
/// backward cells):
///
/// ```text
/// i_k, f_k, g_k, o_k = sigmoid, sigmoid, tanh, sigmoid of
///                      (W_ih x_k + b_ih + W_hh h_{k-1} + b_hh), split in four
/// c_k = f_k * c_{k-1} + i_k * g_k
/// h_k = o_k * tanh(c_k)
/// ```
///
/// PyTorch names: `weight_ih_l{l}` `[4H, I]` (`W_ii|W_if|W_ig|W_io`),
/// `weight_hh_l{l}` `[4H, H]`, `bias_ih_l{l}`, `bias_hh_l{l}` `[4H]`, and
/// the same with `_reverse`; a PyTorch state dict loads as it is.
///
/// Use [`Recurrent::forward_with_state`](crate::Recurrent::forward_with_state)
/// for the state `(h, c)` in and out.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_core::{Mode, Params, Seq};
/// use seq_recurrent::{Lstm, Recurrent, RecurrentConfig};
///
/// let params = Params::new(0); // the seed of every weight
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// // 8 features in, 16 hidden, 2 layers, both directions.
/// let config = RecurrentConfig::new(8, 16).with_layers(2).with_bidirectional(true);
/// let lstm = Lstm::new(config, vb.pp("lstm"))?;
/// let x = Tensor::randn(0f32, 1.0, (4, 10, 8), &Device::Cpu)?; // [batch, time, features]
/// // Two sequences are shorter: their padding never reaches the state.
/// let xs = Seq::new(x)?.with_lengths(&[10, 7, 10, 3])?;
/// let (ys, state) = lstm.forward_with_state(&xs, None, Mode::Eval)?;
/// assert_eq!(ys.values().dims(), &[4, 10, 32]); // [batch, time, 2 * hidden]
/// assert_eq!(state.h.dims(), &[4, 4, 16]); // [layers * directions, batch, hidden]
/// assert!(state.c.is_some()); // the memory cell
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Lstm {
    stack: Stack<LstmCell>,
}

impl Lstm {
    /// Creates (or loads) every layer's tensors under `vb`.
    pub fn new(config: RecurrentConfig, vb: VarBuilder) -> Result<Self> {
        let stack = Stack::new("Lstm", Kind::Lstm, config, vb, |input, vb, suffix, name| {
            let cell = CellConfig::new(input, config.hidden_size).with_bias(config.bias);
            LstmCell::with_suffix(cell, vb, suffix, name)
        })?;
        Ok(Lstm { stack })
    }
}

super::recurrent_layer!(Lstm);

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for Lstm {
    type Config = RecurrentConfig;
    const MODEL_TYPE: &'static str = "lstm";

    fn build(config: &RecurrentConfig, vb: VarBuilder) -> Result<Self> {
        Lstm::new(*config, vb)
    }

    fn pretrained_config(&self) -> RecurrentConfig {
        *crate::Recurrent::config(self)
    }
}
