//! [`Activation`]: the element-wise non-linearities `g` of the course.

use std::fmt;

use candle_core::{Tensor, D};

use crate::pointwise::{self, Kind};
use crate::{Mode, Module, Result, Seq};

/// An activation function `g`, applied element-wise (softmax: over the
/// features, the last dimension). All are differentiable in f32 and f64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Activation {
    /// `tanh(x)`.
    #[default]
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `x * Phi(x)` with the exact normal CDF, PyTorch's default `nn.GELU`
    /// (Hendrycks & Gimpel, 2016); on the CPU one op whose gradient is exact
    /// (candle 0.11.1's `gelu_erf` gradient is off by up to 1.7e-7 in f64).
    Gelu,
    /// GELU's tanh form, PyTorch's `nn.GELU(approximate='tanh')`:
    /// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
    GeluTanh,
    /// `x`.
    Identity,
    /// `exp(x_i) / sum_j exp(x_j)` over the last dimension.
    Softmax,
}

impl Activation {
    /// Applies the function to any tensor.
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Tanh => xs.tanh()?,
            Activation::Relu => match pointwise::activation(xs, Kind::Relu)? {
                Some(y) => y,
                None => xs.relu()?,
            },
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs)?,
            Activation::Gelu => match pointwise::activation(xs, Kind::Gelu)? {
                Some(y) => y,
                None => xs.gelu_erf()?,
            },
            Activation::GeluTanh => match pointwise::activation(xs, Kind::GeluTanh)? {
                Some(y) => y,
                None => xs.gelu()?,
            },
            Activation::Identity => xs.clone(),
            Activation::Softmax => softmax(xs)?,
        })
    }

    /// The op that fuses this activation after a bias, if there is one.
    pub(crate) fn fused_kind(&self) -> Option<Kind> {
        match self {
            Activation::Relu => Some(Kind::Relu),
            Activation::Gelu => Some(Kind::Gelu),
            Activation::GeluTanh => Some(Kind::GeluTanh),
            _ => None,
        }
    }
}

/// Softmax over the last dimension, as a composition with a backward
/// (candle's fused `softmax_last_dim` has none). The maximum is subtracted
/// first for stability; it cancels in the quotient, so it is detached.
pub fn softmax(xs: &Tensor) -> Result<Tensor> {
    let shifted = xs.broadcast_sub(&xs.max_keepdim(D::Minus1)?.detach())?;
    let e = shifted.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

impl Module for Activation {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.with_values(self.apply(xs.values())?)
    }
}

impl candle_core::Module for Activation {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(xs).map_err(candle_core::Error::wrap)
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn closed_forms_at_known_points() -> Result<()> {
        let x = Tensor::new(&[[-1.0f64, 0.0, 2.0]], &Device::Cpu)?;
        let get = |a: Activation| a.apply(&x).unwrap().to_vec2::<f64>().unwrap()[0].clone();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-12);
        assert!(close(&get(Activation::Relu), &[0.0, 0.0, 2.0]));
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        assert!(close(&get(Activation::Sigmoid), &[s(-1.0), 0.5, s(2.0)]));
        assert!(close(
            &get(Activation::Tanh),
            &[(-1f64).tanh(), 0.0, 2f64.tanh()]
        ));
        // GELU(x) = x * Phi(x); Phi(-1) = 0.158655253931457, Phi(2) = 0.977249868051821.
        let g = get(Activation::Gelu);
        assert!(
            close(&g, &[-0.158655253931457, 0.0, 2.0 * 0.977249868051821]),
            "{g:?}"
        );
        let z: f64 = [-1f64, 0.0, 2.0].iter().map(|v| v.exp()).sum();
        let want: Vec<f64> = [-1f64, 0.0, 2.0].iter().map(|v| v.exp() / z).collect();
        assert!(close(&get(Activation::Softmax), &want));
        Ok(())
    }
}
