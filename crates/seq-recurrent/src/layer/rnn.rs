//! [`Rnn`]: the Elman RNN layer, PyTorch's `nn.RNN` (batch-first).

use candle_nn::VarBuilder;
use seq_core::{Activation, Result};

use super::stack::Stack;
use super::RecurrentConfig;
use crate::cell::{RnnCell, RnnCellConfig};
use crate::fused::Kind;

/// A stack of Elman [`RnnCell`]s unrolled over time, PyTorch's `nn.RNN`
/// with `batch_first=True`:
///
/// ```text
/// a<t> = g1(W_aa a<t-1> + W_ax x<t> + b_a)
/// ```
///
/// PyTorch names: `W_ax` is `weight_ih_l{l}` `[H, I]`, `W_aa` is
/// `weight_hh_l{l}` `[H, H]`, `b_a` is `bias_ih_l{l} + bias_hh_l{l}`, and
/// the same with `_reverse`. The course's output `y<t> = g2(W_ya a<t> +
/// b_y)` is a [`Linear`](seq_core::Linear) and an
/// [`Activation`] applied to this layer's output.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_core::{Activation, Linear, LinearConfig, Mode, Params, Seq};
/// use seq_recurrent::{Recurrent, RecurrentConfig, Rnn};
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// let rnn = Rnn::new(RecurrentConfig::new(1, 8), Activation::Tanh, vb.pp("rnn"))?;
/// // The course's readout y<t> = g2(W_ya a<t> + b_y), here with g2 = identity.
/// let readout = Linear::new(LinearConfig::new(8, 1), vb.pp("readout"))?;
/// let x = Tensor::randn(0f32, 1.0, (2, 5, 1), &Device::Cpu)?;
/// let (a, last) = rnn.forward_with_state(&Seq::new(x)?, None, Mode::Eval)?;
/// let y = readout.apply(a.values())?;
/// assert_eq!(y.dims(), &[2, 5, 1]);
/// assert_eq!(last.h.dims(), &[1, 2, 8]); // a<T>: [layers, batch, hidden]
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Rnn {
    stack: Stack<RnnCell>,
}

impl Rnn {
    /// Creates (or loads) every layer's tensors under `vb`; `g1` is PyTorch's
    /// `nonlinearity` (tanh or relu; sigmoid and identity are accepted too).
    pub fn new(config: RecurrentConfig, g1: Activation, vb: VarBuilder) -> Result<Self> {
        let stack = Stack::new(
            "Rnn",
            Kind::Rnn(g1),
            config,
            vb,
            |input, vb, suffix, name| {
                let cell = RnnCellConfig {
                    bias: config.bias,
                    ..RnnCellConfig::new(input, config.hidden_size).with_activation(g1)
                };
                RnnCell::with_suffix(cell, vb, suffix, name)
            },
        )?;
        Ok(Rnn { stack })
    }
}

super::recurrent_layer!(Rnn);
