//! [`Linear`]: an affine map applied at every time step.

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::affine::affine;
use crate::pointwise::Kind;
use crate::{Activation, Engine, Error, Init, Mode, Module, Result, Seq};

/// The sizes of a [`Linear`] layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LinearConfig {
    /// Input features `in`.
    pub in_features: usize,
    /// Output features `out`.
    pub out_features: usize,
    /// Whether to add a bias (default true).
    pub bias: bool,
    /// The product, bias and ReLU as one op (see [`linear`]) or candle's
    /// matmul then the bias (default [`Engine::Fused`]).
    pub engine: Engine,
}

impl LinearConfig {
    /// `in -> out` with a bias.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
            engine: Engine::Fused,
        }
    }

    /// With the fused op or the composed reference.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
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
        self.expect_input(xs)?;
        linear(xs, &self.weight, self.bias.as_ref(), self.config.engine)
    }

    /// `g(x W^T + b)`: with a bias and relu, the product, the bias and the
    /// activation are one op on the CPU (in f32/f64, [`Engine::Fused`]);
    /// with GELU the activation and its backward are one more op; otherwise
    /// [`Linear::apply`] then `g`.
    pub fn apply_activation(&self, xs: &Tensor, g: Activation) -> Result<Tensor> {
        self.expect_input(xs)?;
        if let (Some(b), Some(kind), Engine::Fused) =
            (&self.bias, g.fused_kind(), self.config.engine)
        {
            let fused = match kind {
                Kind::Relu => Kind::Relu,
                _ => Kind::Identity,
            };
            if let Some(y) = affine_any_rank(xs, &self.weight, b, fused)? {
                return match kind {
                    Kind::Relu => Ok(y),
                    _ => g.apply(&y),
                };
            }
        }
        g.apply(&self.apply(xs)?)
    }

    fn expect_input(&self, xs: &Tensor) -> Result<()> {
        let i = self.config.in_features;
        match xs.dims().last() == Some(&i) {
            true => Ok(()),
            false => Err(Error::shape(
                "Linear",
                "input",
                format!("[..., {i}]"),
                xs.dims(),
            )),
        }
    }
}

/// `x W^T + b`, PyTorch's `F.linear`: `x` `[..., in]`, `weight` `[out, in]`,
/// `bias` `[out]`; returns `[..., out]`. With [`Engine::Fused`], a bias,
/// and a CPU tensor of f32 or f64 the product and the bias are one op
/// writing the output once (its backward gives all three gradients);
/// otherwise candle's matmul and a bias op.
pub fn linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    engine: Engine,
) -> Result<Tensor> {
    let dims = x.dims();
    let (o, i) = weight.dims2()?;
    if o == 0 || i == 0 {
        return Err(Error::shape(
            "linear",
            "weight",
            "[out > 0, in > 0]",
            &[o, i],
        ));
    }
    if dims.last() != Some(&i) {
        return Err(Error::shape("linear", "input", format!("[..., {i}]"), dims));
    }
    if let (Some(b), Engine::Fused) = (bias, engine) {
        if let Some(y) = affine_any_rank(x, weight, b, Kind::Identity)? {
            return Ok(y);
        }
    }
    let y = x.reshape(((), i))?.matmul(&weight.t()?)?; // [rows, out]
    let y = match bias {
        Some(b) if engine == Engine::Fused => crate::pointwise::add_bias(&y, b)?,
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    Ok(y.reshape(out_shape(dims, o))?)
}

/// `[..., out]` for an input `[..., in]`.
fn out_shape(dims: &[usize], out: usize) -> Vec<usize> {
    let mut shape = dims[..dims.len().saturating_sub(1)].to_vec();
    shape.push(out);
    shape
}

/// The fused op on `x` `[..., in]` seen as `[rows, in]`.
fn affine_any_rank(x: &Tensor, w: &Tensor, b: &Tensor, kind: Kind) -> Result<Option<Tensor>> {
    let (o, i) = w.dims2()?;
    let y = affine(&x.reshape(((), i))?, w, b, kind)?;
    Ok(match y {
        Some(y) => Some(y.reshape(out_shape(x.dims(), o))?),
        None => None,
    })
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

#[cfg(feature = "serde")]
impl crate::pretrained::Pretrained for Linear {
    type Config = LinearConfig;
    const MODEL_TYPE: &'static str = "linear";

    fn build(config: &LinearConfig, vb: VarBuilder) -> Result<Self> {
        Linear::new(*config, vb)
    }

    fn pretrained_config(&self) -> LinearConfig {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    /// `F.linear` by hand, on both engines; mismatched shapes are errors.
    #[test]
    fn linear_by_hand_and_bad_shapes() {
        let dev = &Device::Cpu;
        let x = Tensor::new(&[[[1.0f64, 2.0], [3.0, 4.0]]], dev).unwrap(); // [1, 2, 2]
        let w = Tensor::new(&[[1.0f64, 0.0], [1.0, -1.0], [0.5, 0.5]], dev).unwrap(); // [3, 2]
        let b = Tensor::new(&[0.0f64, 10.0, -1.0], dev).unwrap();
        for engine in [Engine::Fused, Engine::Composed] {
            let y = linear(&x, &w, Some(&b), engine).unwrap();
            let want = [[[1.0, 9.0, 0.5], [3.0, 9.0, 2.5]]];
            assert_eq!(y.to_vec3::<f64>().unwrap(), want, "{engine:?}");
        }
        let empty = Tensor::zeros((0, 2), DType::F64, dev).unwrap();
        assert!(linear(&x, &empty, None, Engine::Fused).is_err());
        assert!(linear(&x, &w.t().unwrap(), None, Engine::Fused).is_err());
        let short = Tensor::new(&[1.0f64, 2.0], dev).unwrap();
        assert!(linear(&x, &w, Some(&short), Engine::Fused).is_err());
    }
}
