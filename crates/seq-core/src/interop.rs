//! candle interop, both ways.
//!
//! - seq layers in candle programs: every seq layer implements
//!   [`candle_core::Module`] (evaluation mode, values in and out, no
//!   padding mask), so `x.apply(&lstm)` works; [`WithMode`] wraps one as a
//!   [`candle_nn::ModuleT`] whose `train` flag picks [`Mode::Train`].
//! - candle layers in seq: [`FromCandle`] makes any [`candle_core::Module`]
//!   (a `candle_nn::Linear`, a closure from `candle_nn::func`...) a seq
//!   [`Module`] that maps the values and passes the mask on, so it fits in a
//!   [`Sequential`](crate::Sequential).
//!
//! ```
//! use candle_core::{DType, Device, Module as _, Tensor};
//! use seq_core::{FromCandle, Linear, LinearConfig, Mode, Module, Params, Seq, Sequential};
//!
//! # fn main() -> seq_core::Result<()> {
//! let params = Params::new(0);
//! let vb = params.var_builder(DType::F32, &Device::Cpu);
//! // A candle-nn layer inside a seq stack...
//! let stack = Sequential::new()
//!     .add(FromCandle::new(candle_nn::linear(4, 8, vb.pp("0"))?))
//!     .add(Linear::new(LinearConfig::new(8, 2), vb.pp("1"))?);
//! let x = Tensor::ones((3, 5, 4), DType::F32, &Device::Cpu)?;
//! // (With both traits in scope, name the one meant.)
//! let y = Module::forward(&stack, &Seq::new(x.clone())?, Mode::Eval)?;
//! assert_eq!(y.values().dims(), &[3, 5, 2]);
//! // ...and the seq stack inside a candle program.
//! assert_eq!(x.apply(&stack)?.dims(), &[3, 5, 2]);
//! # Ok(()) }
//! ```

use std::fmt;

use candle_core::Tensor;

use crate::{Mode, Module, Result, Seq};

/// Runs a seq layer on plain values (no padding mask) and returns the
/// output values: what the candle traits implemented here do.
pub fn forward_values<M: Module + ?Sized>(
    layer: &M,
    xs: &Tensor,
    mode: Mode,
) -> candle_core::Result<Tensor> {
    let run = || Ok::<_, crate::Error>(layer.forward(&Seq::new(xs.clone())?, mode)?.into_parts().0);
    run().map_err(candle_core::Error::wrap)
}

/// Implements [`candle_core::Module`] (evaluation mode) for seq layers, by
/// [`forward_values`]: `seq_core::candle_module!(Lstm, Gru);`.
#[macro_export]
macro_rules! candle_module {
    ($($layer:ty),+ $(,)?) => {$(
        impl $crate::interop::candle_core::Module for $layer {
            fn forward(
                &self,
                xs: &$crate::interop::candle_core::Tensor,
            ) -> $crate::interop::candle_core::Result<$crate::interop::candle_core::Tensor> {
                $crate::interop::forward_values(self, xs, $crate::Mode::Eval)
            }
        }
    )+};
}

/// candle, as the macro above names it from any crate.
#[doc(hidden)]
pub use candle_core;

/// A seq layer as a [`candle_nn::ModuleT`]: `forward_t(xs, true)` runs it in
/// [`Mode::Train`] (dropout active, batch statistics), `false` in
/// [`Mode::Eval`]. (candle's plain `Module`, which every seq layer
/// implements itself, is always evaluation.)
pub struct WithMode<M>(pub M);

impl<M: Module> candle_nn::ModuleT for WithMode<M> {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mode = if train { Mode::Train } else { Mode::Eval };
        forward_values(&self.0, xs, mode)
    }
}

/// A [`candle_core::Module`] as a seq [`Module`]: it maps the values
/// `[batch, time, features]` and the padding mask passes through, so the
/// module must keep the batch and time axes (a per-step layer such as
/// `candle_nn::Linear` or `candle_nn::LayerNorm`); an output with other
/// leading axes is an error naming the shapes. The mode is not passed on
/// (candle's `Module` has none).
pub struct FromCandle<M> {
    inner: M,
}

impl<M: candle_core::Module> FromCandle<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        Self { inner }
    }

    /// The wrapped module.
    pub fn inner(&self) -> &M {
        &self.inner
    }
}

impl<M: candle_core::Module> Module for FromCandle<M> {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.with_values(self.inner.forward(xs.values())?)
    }
}

impl<M> fmt::Display for FromCandle<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FromCandle({})", std::any::type_name::<M>())
    }
}

candle_module!(crate::Sequential, crate::Dropout);
