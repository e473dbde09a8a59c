//! Positional encodings: self-attention alone is blind to order, so the
//! position of each step is added to it (sinusoidal, learned) or rotated
//! into its queries and keys (rotary).

use std::fmt;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use seq_core::{memory, Error, Init, Mode, Module, Result, Seq};

/// The table `[max_len, d]` of Vaswani et al. (2017):
/// `PE[pos, 2i] = sin(pos / 10000^(2i/d))`, `PE[pos, 2i+1] = cos(pos / 10000^(2i/d))`.
fn sinusoid_table(max_len: usize, d: usize) -> Result<Vec<f64>> {
    // Sizes from a configuration: checked, allocated fallibly.
    let n = memory::elements("SinusoidalEncoding", &[max_len, d])?;
    let mut table = memory::filled("SinusoidalEncoding", n, 0.0)?;
    for pos in 0..max_len {
        for i in (0..d).step_by(2) {
            let angle = pos as f64 / 10000f64.powf(i as f64 / d as f64);
            table[pos * d + i] = angle.sin();
            if i + 1 < d {
                table[pos * d + i + 1] = angle.cos();
            }
        }
    }
    Ok(table)
}

fn check_len(layer: &str, t: usize, offset: usize, max_len: usize) -> Result<()> {
    if offset + t > max_len {
        return Err(Error::config(
            layer,
            format!(
                "positions up to {} asked for, but max_len is {max_len}",
                offset + t
            ),
        ));
    }
    Ok(())
}

/// Sinusoidal positional encoding (Vaswani et al., 2017), added to the
/// input: `x<t> + PE[t]`. No parameters.
#[derive(Debug, Clone)]
pub struct SinusoidalEncoding {
    table: Tensor, // [max_len, d]
    max_len: usize,
}

impl SinusoidalEncoding {
    /// The table for positions `0..max_len` of width `d`.
    pub fn new(max_len: usize, d: usize, dtype: DType, device: &Device) -> Result<Self> {
        let table =
            Tensor::from_vec(sinusoid_table(max_len, d)?, (max_len, d), device)?.to_dtype(dtype)?;
        Ok(SinusoidalEncoding { table, max_len })
    }

    /// Adds the encodings of positions `offset..offset + T` to `x` `[batch, T, d]`.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, t, _) = x.dims3()?;
        check_len("SinusoidalEncoding", t, offset, self.max_len)?;
        Ok(x.broadcast_add(&self.table.narrow(0, offset, t)?)?)
    }
}

impl Module for SinusoidalEncoding {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.with_values(self.apply(xs.values(), 0)?)
    }
}

/// A learned positional embedding (as in BERT and GPT), added to the input.
///
/// Parameter: `weight` `[max_len, d]`, initialised `N(0, 0.02^2)`.
#[derive(Debug, Clone)]
pub struct LearnedEncoding {
    weight: Tensor,
    max_len: usize,
}

impl LearnedEncoding {
    /// Creates (or loads) `weight` under `vb`.
    pub fn new(max_len: usize, d: usize, vb: VarBuilder) -> Result<Self> {
        let init = Init::Normal {
            mean: 0.0,
            std: 0.02,
        }
        .to_hint(&(max_len, d).into())?;
        Ok(LearnedEncoding {
            weight: vb.get_with_hints((max_len, d), "weight", init)?,
            max_len,
        })
    }

    /// Adds the embeddings of positions `offset..offset + T` to `x` `[batch, T, d]`.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, t, _) = x.dims3()?;
        check_len("LearnedEncoding", t, offset, self.max_len)?;
        Ok(x.broadcast_add(&self.weight.narrow(0, offset, t)?)?)
    }
}

impl Module for LearnedEncoding {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.with_values(self.apply(xs.values(), 0)?)
    }
}

/// Rotary position embedding (RoFormer, Su et al., 2021), applied to the
/// queries and keys of each head: the pair `(x_i, x_{i + d/2})` is rotated by
/// the angle `pos * 10000^(-2i/d)`, so that `q_t . k_s` depends on `t - s`
/// only. Written as `x cos + rotate_half(x) sin`, a differentiable
/// composition (candle's fast rotary ops have no backward).
#[derive(Debug, Clone)]
pub struct Rotary {
    cos: Tensor, // [max_len, d]
    sin: Tensor, // [max_len, d]
    max_len: usize,
}

impl Rotary {
    /// The rotations of positions `0..max_len` for a head width `d` (even).
    pub fn new(max_len: usize, d: usize, dtype: DType, device: &Device) -> Result<Self> {
        if !d.is_multiple_of(2) {
            return Err(Error::config(
                "Rotary",
                format!("the head width must be even, got {d}"),
            ));
        }
        let half = d / 2;
        let n = memory::elements("Rotary", &[max_len, d])?;
        let mut angles = memory::filled("Rotary", n, 0.0)?;
        for pos in 0..max_len {
            for i in 0..half {
                let a = pos as f64 * 10000f64.powf(-2.0 * i as f64 / d as f64);
                angles[pos * d + i] = a;
                angles[pos * d + half + i] = a;
            }
        }
        let angles = Tensor::from_vec(angles, (max_len, d), device)?;
        Ok(Rotary {
            cos: angles.cos()?.to_dtype(dtype)?,
            sin: angles.sin()?.to_dtype(dtype)?,
            max_len,
        })
    }

    /// Rotates `x` `[batch, heads, T, d]` at positions `offset..offset + T`.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, _, t, d) = x.dims4()?;
        check_len("Rotary", t, offset, self.max_len)?;
        let (cos, sin) = (
            self.cos.narrow(0, offset, t)?,
            self.sin.narrow(0, offset, t)?,
        );
        let half = d / 2;
        let rotated = Tensor::cat(&[x.narrow(3, half, half)?.neg()?, x.narrow(3, 0, half)?], 3)?;
        Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
    }
}

impl fmt::Display for SinusoidalEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SinusoidalEncoding(max_len={}, d={})",
            self.max_len,
            self.table.dims()[1]
        )
    }
}

impl fmt::Display for LearnedEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LearnedEncoding(max_len={}, d={}; {} params)",
            self.max_len,
            self.weight.dims()[1],
            self.weight.elem_count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sinusoid_table_is_the_paper_s() {
        let t = sinusoid_table(50, 6).unwrap();
        // PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)
        let (pos, i) = (7.0f64, 2.0f64);
        assert!((t[7 * 6 + 2] - (pos / 10000f64.powf(i / 6.0)).sin()).abs() < 1e-15);
        assert!((t[7 * 6 + 3] - (pos / 10000f64.powf(i / 6.0)).cos()).abs() < 1e-15);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[1], 1.0);
    }
}
