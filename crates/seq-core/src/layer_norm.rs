//! [`LayerNorm`]: layer normalisation over the features, differentiable.

use std::fmt;

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;

use crate::layer_norm_op::LayerNormOp;
use crate::{Engine, Error, Init, Mode, Module, Result, Seq};

/// The sizes of a [`LayerNorm`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LayerNormConfig {
    /// The normalised width (the last dimension).
    pub normalized_shape: usize,
    /// Added to the variance (default `1e-5`, PyTorch's).
    pub eps: f64,
    /// Learn `weight` and `bias` (default true).
    pub elementwise_affine: bool,
    /// One fused op on the CPU (f32/f64, with `weight` and `bias`) or the
    /// composed reference (default [`Engine::Fused`]).
    pub engine: Engine,
}

impl LayerNormConfig {
    /// Normalises `width` features with PyTorch's defaults.
    pub fn new(width: usize) -> Self {
        LayerNormConfig {
            normalized_shape: width,
            eps: 1e-5,
            elementwise_affine: true,
            engine: Engine::Fused,
        }
    }

    /// With the fused op or the composed reference.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// With another `eps`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

/// `y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias` over the last
/// dimension (Ba et al., 2016), PyTorch's `nn.LayerNorm`; the variance is
/// the biased one, as PyTorch's.
///
/// Parameters (PyTorch names): `weight` `[width]` (ones), `bias` `[width]`
/// (zeros).
///
/// On the CPU in f32 and f64 it is one op with its own backward (one pass
/// over each row each way); elsewhere, and with [`Engine::Composed`], a
/// composition of candle ops. Both run in f64 and have a backward: candle's
/// fused `layer_norm` has neither.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    affine: Option<(Tensor, Tensor)>,
    config: LayerNormConfig,
}

impl LayerNorm {
    /// Creates (or loads) `weight` and `bias` under `vb`.
    pub fn new(config: LayerNormConfig, vb: VarBuilder) -> Result<Self> {
        let n = config.normalized_shape;
        if n == 0 || config.eps.is_nan() || config.eps < 0.0 {
            return Err(Error::config(
                "LayerNorm",
                format!(
                    "needs a positive width and eps >= 0, got {n} and {}",
                    config.eps
                ),
            ));
        }
        let affine = if config.elementwise_affine {
            let ones = Init::Const(1.0).to_hint(&n.into())?;
            let zeros = Init::Const(0.0).to_hint(&n.into())?;
            Some((
                vb.get_with_hints(n, "weight", ones)?,
                vb.get_with_hints(n, "bias", zeros)?,
            ))
        } else {
            None
        };
        Ok(LayerNorm { affine, config })
    }

    /// Normalises the last dimension of any tensor `[..., width]`.
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        let n = self.config.normalized_shape;
        if xs.dims().last() != Some(&n) {
            return Err(Error::shape(
                "LayerNorm",
                "input",
                format!("[..., {n}]"),
                xs.dims(),
            ));
        }
        let fits = crate::cpu::supports(xs);
        if let (Engine::Fused, true, Some((w, b))) = (self.config.engine, fits, &self.affine) {
            let op = LayerNormOp::new(self.config.eps);
            return Ok(xs.contiguous()?.apply_op3(w, b, op)?);
        }
        let centred = xs.broadcast_sub(&xs.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.config.eps)?.sqrt()?)?;
        match &self.affine {
            Some((w, b)) => Ok(normed.broadcast_mul(w)?.broadcast_add(b)?),
            None => Ok(normed),
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.with_values(self.apply(xs.values())?)
    }
}

impl candle_core::Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(xs).map_err(candle_core::Error::wrap)
    }
}

impl fmt::Display for LayerNorm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let params = if c.elementwise_affine {
            2 * c.normalized_shape
        } else {
            0
        };
        write!(
            f,
            "LayerNorm({}, eps={}; {params} params)",
            c.normalized_shape, c.eps
        )
    }
}

#[cfg(feature = "serde")]
impl crate::pretrained::Pretrained for LayerNorm {
    type Config = LayerNormConfig;
    const MODEL_TYPE: &'static str = "layer_norm";

    fn build(config: &LayerNormConfig, vb: VarBuilder) -> Result<Self> {
        LayerNorm::new(*config, vb)
    }

    fn pretrained_config(&self) -> LayerNormConfig {
        self.config
    }
}
