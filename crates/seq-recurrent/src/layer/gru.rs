//! [`Gru`]: the GRU layer, PyTorch's `nn.GRU` (batch-first).

use candle_nn::VarBuilder;
use seq_core::Result;

use super::stack::Stack;
use super::RecurrentConfig;
use crate::cell::{CellConfig, GruCell};
use crate::fused::Kind;

/// A stack of [`GruCell`]s unrolled over time, PyTorch's `nn.GRU` with
/// `batch_first=True`.
///
/// At every step `k` of each layer, the reset gate applied after the hidden
/// product:
///
/// ```text
/// r_k = sigmoid(W_ir x_k + b_ir + W_hr h_{k-1} + b_hr)
/// z_k = sigmoid(W_iz x_k + b_iz + W_hz h_{k-1} + b_hz)
/// n_k = tanh(W_in x_k + b_in + r_k * (W_hn h_{k-1} + b_hn))
/// h_k = (1 - z_k) * n_k + z_k * h_{k-1}
/// ```
///
/// PyTorch names: `weight_ih_l{l}` `[3H, I]` (`W_ir|W_iz|W_in`),
/// `weight_hh_l{l}` `[3H, H]`, `bias_ih_l{l}`, `bias_hh_l{l}` `[3H]`, and
/// the same with `_reverse`.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_core::{Mode, Module, Params, Seq};
/// use seq_recurrent::{Gru, RecurrentConfig};
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// let gru = Gru::new(RecurrentConfig::new(3, 5), vb.pp("gru"))?;
/// let x = Tensor::randn(0f32, 1.0, (2, 6, 3), &Device::Cpu)?;
/// let ys = Module::forward(&gru, &Seq::new(x)?, Mode::Eval)?;
/// assert_eq!(ys.values().dims(), &[2, 6, 5]);
/// // PyTorch's names and shapes: a `nn.GRU` state dict loads as it is.
/// assert_eq!(params.get("gru.weight_hh_l0").unwrap().dims(), &[15, 5]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Gru {
    stack: Stack<GruCell>,
}

impl Gru {
    /// Creates (or loads) every layer's tensors under `vb`.
    pub fn new(config: RecurrentConfig, vb: VarBuilder) -> Result<Self> {
        let stack = Stack::new("Gru", Kind::Gru, config, vb, |input, vb, suffix, name| {
            let cell = CellConfig::new(input, config.hidden_size).with_bias(config.bias);
            GruCell::with_suffix(cell, vb, suffix, name)
        })?;
        Ok(Gru { stack })
    }
}

super::recurrent_layer!(Gru);

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for Gru {
    type Config = RecurrentConfig;
    const MODEL_TYPE: &'static str = "gru";

    fn build(config: &RecurrentConfig, vb: VarBuilder) -> Result<Self> {
        Gru::new(*config, vb)
    }

    fn pretrained_config(&self) -> RecurrentConfig {
        *crate::Recurrent::config(self)
    }
}
