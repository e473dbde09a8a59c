//! Initialisers: PyTorch's defaults for each layer kind, Xavier/Glorot,
//! Kaiming/He and orthogonal, all drawn from a seeded [`Rng`].
//!
//! Layers ask for their parameters through a `VarBuilder` with a
//! `candle_nn::Init` hint (see [`Init::to_hint`]); [`Params`](crate::Params)
//! turns the hint into values with its seeded generator. To re-initialise a
//! parameter after construction, as PyTorch's `nn.init.orthogonal_(w)` does,
//! use [`Params::reinit`](crate::Params::reinit).

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::init::{FanInOut, NormalOrUniform};

use crate::{Error, Result, Rng};

/// How to fill a parameter tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Init {
    /// Every entry equal to this value.
    Const(f64),
    /// `U(lo, hi)`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// `N(mean, std^2)`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Glorot & Bengio (2010): `U(-a, a)`, `a = gain * sqrt(6 / (fan_in + fan_out))`.
    XavierUniform {
        /// Gain (1 for linear and sigmoid, 5/3 for tanh).
        gain: f64,
    },
    /// Glorot & Bengio (2010): `N(0, std^2)`, `std = gain * sqrt(2 / (fan_in + fan_out))`.
    XavierNormal {
        /// Gain.
        gain: f64,
    },
    /// He et al. (2015): `U(-b, b)`, `b = gain * sqrt(3 / fan_in)`.
    KaimingUniform {
        /// Gain (`sqrt(2)` for relu).
        gain: f64,
    },
    /// Saxe et al. (2014): a (semi-)orthogonal matrix times `gain`, the
    /// parameter flattened to `[rows, rest]` as PyTorch does.
    Orthogonal {
        /// Gain.
        gain: f64,
    },
}

impl Init {
    /// PyTorch's default for `nn.Linear`, `nn.Conv1d` (weight and bias) and
    /// the recurrent layers (with `fan_in = hidden_size`):
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    pub fn torch_default(fan_in: usize) -> Init {
        let b = 1.0 / (fan_in.max(1) as f64).sqrt();
        Init::Uniform { lo: -b, hi: b }
    }

    /// The `candle_nn::Init` hint that asks a `VarBuilder` for this init.
    ///
    /// Fan-based inits need the shape, so they are resolved here to the
    /// uniform or normal bounds they imply. Orthogonal has no candle hint:
    /// it is an error here; apply it with [`Params::reinit`](crate::Params::reinit).
    pub fn to_hint(&self, shape: &Shape) -> Result<candle_nn::Init> {
        let (fan_in, fan_out) = fans(shape);
        Ok(match *self {
            Init::Const(v) => candle_nn::Init::Const(v),
            Init::Uniform { lo, hi } => candle_nn::Init::Uniform { lo, up: hi },
            Init::Normal { mean, std } => candle_nn::Init::Randn { mean, stdev: std },
            Init::XavierUniform { gain } => {
                let a = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
                candle_nn::Init::Uniform { lo: -a, up: a }
            }
            Init::XavierNormal { gain } => {
                let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
                candle_nn::Init::Randn {
                    mean: 0.0,
                    stdev: std,
                }
            }
            Init::KaimingUniform { gain } => {
                let b = gain * (3.0 / fan_in as f64).sqrt();
                candle_nn::Init::Uniform { lo: -b, up: b }
            }
            Init::Orthogonal { .. } => {
                return Err(Error::config(
                    "Init",
                    "orthogonal has no VarBuilder hint; use Params::reinit after construction",
                ))
            }
        })
    }

    /// Reads a `candle_nn::Init` hint back as an [`Init`] for `shape`.
    pub fn from_hint(hint: candle_nn::Init, shape: &Shape) -> Init {
        match hint {
            candle_nn::Init::Const(v) => Init::Const(v),
            candle_nn::Init::Uniform { lo, up } => Init::Uniform { lo, hi: up },
            candle_nn::Init::Randn { mean, stdev } => Init::Normal { mean, std: stdev },
            candle_nn::Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let (fan_in, fan_out) = fans(shape);
                let fan = match fan {
                    FanInOut::FanIn => fan_in,
                    FanInOut::FanOut => fan_out,
                };
                let std = non_linearity.gain() / (fan as f64).sqrt();
                match dist {
                    NormalOrUniform::Uniform => {
                        let b = 3f64.sqrt() * std;
                        Init::Uniform { lo: -b, hi: b }
                    }
                    NormalOrUniform::Normal => Init::Normal { mean: 0.0, std },
                }
            }
        }
    }

    /// Draws a tensor of `shape` from `rng`.
    pub fn sample(
        &self,
        shape: &Shape,
        dtype: DType,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        // A size from a configuration: checked, and allocated fallibly.
        let n = crate::memory::elements("Init", shape.dims())?;
        let draw: Box<dyn FnMut() -> f64 + '_> = match *self {
            Init::Const(v) => Box::new(move || v),
            Init::Uniform { lo, hi } => Box::new(move || rng.uniform_in(lo, hi)),
            Init::Normal { mean, std } => Box::new(move || mean + std * rng.normal()),
            Init::Orthogonal { gain } => {
                let values = orthogonal(shape, gain, rng)?;
                return Ok(Tensor::from_vec(values, shape, &Device::Cpu)?
                    .to_dtype(dtype)?
                    .to_device(device)?);
            }
            // Xavier and Kaiming resolve to a uniform or normal of their fan.
            fan_based => {
                let resolved = Init::from_hint(fan_based.to_hint(shape)?, shape);
                return resolved.sample(shape, dtype, device, rng);
            }
        };
        let t = match dtype {
            // Drawn in f64 and rounded, as `to_dtype` would, without the copy.
            DType::F32 => Tensor::from_vec(fill(n, draw, |v| v as f32)?, shape, &Device::Cpu)?,
            _ => Tensor::from_vec(fill(n, draw, |v| v)?, shape, &Device::Cpu)?.to_dtype(dtype)?,
        };
        Ok(t.to_device(device)?)
    }
}

/// `n` draws, converted, in a vector allocated fallibly.
fn fill<T>(n: usize, mut draw: impl FnMut() -> f64, to: impl Fn(f64) -> T) -> Result<Vec<T>> {
    let mut v = crate::memory::with_capacity("Init", n)?;
    v.extend((0..n).map(|_| to(draw())));
    Ok(v)
}

/// PyTorch's `_calculate_fan_in_and_fan_out`: for `[out, in, k...]`,
/// `fan_in = in * k...` and `fan_out = out * k...`; a vector has both equal
/// to its length.
pub fn fans(shape: &Shape) -> (usize, usize) {
    let dims = shape.dims();
    match dims.len() {
        0 => (1, 1),
        1 => (dims[0], dims[0]),
        _ => {
            let receptive: usize = dims[2..].iter().product();
            (dims[1] * receptive, dims[0] * receptive)
        }
    }
}

/// A semi-orthogonal `[rows, cols]` matrix (rows of the parameter, the rest
/// flattened) from the QR decomposition of a normal matrix, by modified
/// Gram-Schmidt; its R has a positive diagonal, the sign fix PyTorch applies.
fn orthogonal(shape: &Shape, gain: f64, rng: &mut Rng) -> Result<Vec<f64>> {
    let dims = shape.dims();
    if dims.len() < 2 {
        return Err(Error::shape(
            "Init::Orthogonal",
            "parameter",
            "at least 2 dimensions",
            dims,
        ));
    }
    let rows = dims[0];
    let cols = shape.elem_count() / rows;
    // Orthonormalise the columns of a tall [n, m] matrix (n >= m).
    let (n, m) = (rows.max(cols), rows.min(cols));
    let mut q: Vec<Vec<f64>> = crate::memory::with_capacity("Init", m)?;
    for _ in 0..m {
        let mut column = crate::memory::with_capacity("Init", n)?;
        column.extend((0..n).map(|_| rng.normal()));
        q.push(column);
    }
    for j in 0..m {
        let (done, rest) = q.split_at_mut(j);
        let qj = &mut rest[0];
        for qi in done.iter() {
            let dot: f64 = qi.iter().zip(qj.iter()).map(|(a, b)| a * b).sum();
            qj.iter_mut().zip(qi).for_each(|(b, a)| *b -= dot * a);
        }
        let norm = qj.iter().map(|v| v * v).sum::<f64>().sqrt();
        qj.iter_mut().for_each(|v| *v /= norm);
    }
    // q[j][k] is entry (k, j) of the tall matrix; transpose back when rows < cols.
    let mut out = crate::memory::filled("Init", rows * cols, 0.0)?;
    for r in 0..rows {
        for c in 0..cols {
            out[r * cols + c] = gain * if rows >= cols { q[c][r] } else { q[r][c] };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(init: Init, dims: &[usize]) -> Vec<f64> {
        let shape = Shape::from(dims);
        let t = init
            .sample(&shape, DType::F64, &Device::Cpu, &mut Rng::new(3))
            .unwrap();
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn torch_default_stays_in_its_bounds() {
        let w = draw(Init::torch_default(64), &[128, 64]);
        let b = 1.0 / 8.0;
        assert!(w.iter().all(|&x| -b <= x && x < b));
        let max = w.iter().cloned().fold(0.0, f64::max);
        assert!(max > 0.9 * b, "the bound is reached: {max}");
    }

    #[test]
    fn xavier_uniform_has_the_glorot_variance() {
        // Var(U(-a, a)) = a^2 / 3 = 2 / (fan_in + fan_out).
        let w = draw(Init::XavierUniform { gain: 1.0 }, &[300, 200]);
        let var = w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64;
        assert!((var - 2.0 / 500.0).abs() < 1e-4, "{var}");
    }

    #[test]
    fn orthogonal_rows_or_columns_are_orthonormal() {
        for dims in [[6usize, 4], [4, 6], [5, 5]] {
            let (r, c) = (dims[0], dims[1]);
            let w = draw(Init::Orthogonal { gain: 1.0 }, &dims);
            // The rows (wide) or columns (tall) are orthonormal vectors.
            let vectors: Vec<Vec<f64>> = if r <= c {
                (0..r).map(|i| w[i * c..(i + 1) * c].to_vec()).collect()
            } else {
                (0..c)
                    .map(|j| (0..r).map(|i| w[i * c + j]).collect())
                    .collect()
            };
            for (i, u) in vectors.iter().enumerate() {
                for (j, v) in vectors.iter().enumerate() {
                    let dot: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "{dims:?} ({i},{j}) {dot}");
                }
            }
        }
    }

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(fans(&Shape::from((16, 8, 3))), (24, 48));
        assert_eq!(fans(&Shape::from((5, 7))), (7, 5));
    }
}
