//! [`Linear`]: an affine map applied at every time step.

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::{Activation, Error, Init, Mode, Module, Result, Seq};

/// The sizes of a [`Linear`] layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearConfig {
    /// Input features `in`.
    pub in_features: usize,
    /// Output features `out`.
    pub out_features: usize,
    /// Whether to add a bias (default true).
    pub bias: bool,
}

impl LinearConfig {
    /// `in -> out` with a bias.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
        }
    }

    /// With or without the bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// `y<t> = W x<t> + b` at every time step, PyTorch's `nn.Linear`.
///
/// Parameters (PyTorch names): `weight` `[out, in]`, `bias` `[out]`, both
/// initialised `U(-1/sqrt(in), 1/sqrt(in))` as PyTorch does.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    config: LinearConfig,
}

impl Linear {
    /// Creates (or loads) `weight` and `bias` under `vb`.
    pub fn new(config: LinearConfig, vb: VarBuilder) -> Result<Self> {
        let LinearConfig {
            in_features: i,
            out_features: o,
            ..
        } = config;
        if i == 0 || o == 0 {
            return Err(Error::config(
                "Linear",
                format!("sizes must be positive, got in={i}, out={o}"),
            ));
        }
        let init = Init::torch_default(i).to_hint(&(o, i).into())?;
        let weight = vb.get_with_hints((o, i), "weight", init)?;
        let bias = match config.bias {
            true => Some(vb.get_with_hints(o, "bias", init)?),
            false => None,
        };
        Ok(Linear {
            weight,
            bias,
            config,
        })
    }

    /// The weight `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias `[out]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Applies the layer to the last dimension of any tensor `[..., in]`.
    ///
    /// # Returns
    /// `[..., out]`.
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims();
        let (i, o) = (self.config.in_features, self.config.out_features);
        if dims.last() != Some(&i) {
            return Err(Error::shape("Linear", "input", format!("[..., {i}]"), dims));
        }
        let rows = xs.elem_count() / i;
        let y = xs.reshape((rows, i))?.matmul(&self.weight.t()?)?; // [rows, out]
        let y = match &self.bias {
            Some(b) => crate::pointwise::add_bias(&y, b)?,
            None => y,
        };
        let mut out_dims = dims[..dims.len() - 1].to_vec();
        out_dims.push(o);
        Ok(y.reshape(out_dims)?)
    }
}

impl Linear {
    /// `g(x W^T + b)`: with a bias and relu or GELU, on the CPU in f32/f64,
    /// the bias and the activation are one op each way (the feed-forward
    /// block of a Transformer); otherwise [`Linear::apply`] then `g`.
    pub fn apply_activation(&self, xs: &Tensor, g: Activation) -> Result<Tensor> {
        if let (Some(b), Some(kind)) = (&self.bias, g.fused_kind()) {
            let dims = xs.dims();
            let i = self.config.in_features;
            if dims.last() == Some(&i) {
                let rows = xs.elem_count() / i;
                let y = xs.reshape((rows, i))?.matmul(&self.weight.t()?)?; // [rows, out]
                if let Some(y) = crate::pointwise::bias_activation(&y, b, kind)? {
                    let mut out_dims = dims[..dims.len() - 1].to_vec();
                    out_dims.push(self.config.out_features);
                    return Ok(y.reshape(out_dims)?);
                }
            }
        }
        g.apply(&self.apply(xs)?)
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.expect_features("Linear", self.config.in_features)?;
        xs.with_values(self.apply(xs.values())?)
    }
}

impl candle_core::Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(xs).map_err(candle_core::Error::wrap)
    }
}

impl fmt::Display for Linear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let params = c.in_features * c.out_features + if c.bias { c.out_features } else { 0 };
        write!(
            f,
            "Linear(in={}, out={}, bias={}; {params} params)",
            c.in_features, c.out_features, c.bias
        )
    }
}
