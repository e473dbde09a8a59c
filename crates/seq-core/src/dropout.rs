//! [`Dropout`]: inverted dropout (Srivastava et al., 2014), seeded.

use std::fmt;
use std::sync::Mutex;

use candle_core::{Device, Tensor};

use crate::{Error, Mode, Module, Result, Rng, Seq};

/// Zeroes each entry with probability `p` in training and scales the rest
/// by `1 / (1 - p)`, so evaluation is the identity; PyTorch's `nn.Dropout`.
///
/// The masks come from the layer's own seeded [`Rng`], re-seeded from its
/// seed and the training step ([`rng::set_step`](crate::rng::set_step)) when
/// the step changes: a seeded run drops the same units every time, and a
/// run resumed at step `n` drops what the uninterrupted run dropped
/// (candle's CPU generator cannot be seeded).
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    seed: u64,
    /// The step the generator was seeded for, and the generator.
    rng: Mutex<(Option<u64>, Rng)>,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1)`, masks drawn with `seed`.
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::config(
                "Dropout",
                format!("probability must be in [0, 1), got {p}"),
            ));
        }
        Ok(Dropout {
            p,
            seed,
            rng: Mutex::new((None, Rng::new(seed))),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The seed of the masks.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The key of this step's masks ([`rng::step`](crate::rng::step)
    /// mixed into the seed): kernels that draw a mask element by element
    /// from a hash of its position (the fused attention) use it, so the
    /// same seed and step drop the same units in forward and backward.
    pub fn step_key(&self) -> u64 {
        self.seed ^ crate::rng::step().wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Applies dropout to any tensor: identity in [`Mode::Eval`] or for `p = 0`.
    pub fn apply(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        if !mode.is_train() || self.p == 0.0 {
            return Ok(xs.clone());
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let mask: Vec<f32> = {
            let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let step = crate::rng::step();
            if state.0 != Some(step) {
                *state = (Some(step), Rng::new(self.step_key()));
            }
            let rng = &mut state.1;
            (0..xs.elem_count())
                .map(|_| {
                    if rng.uniform() < keep {
                        scale as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mask = Tensor::from_vec(mask, xs.shape(), &Device::Cpu)?
            .to_dtype(xs.dtype())?
            .to_device(xs.device())?;
        Ok(xs.mul(&mask)?)
    }
}

impl Module for Dropout {
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        xs.with_values(self.apply(xs.values(), mode)?)
    }
}

impl fmt::Display for Dropout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dropout(p={})", self.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn drops_about_p_and_keeps_the_expectation() -> Result<()> {
        let d = Dropout::new(0.25, 9)?;
        let x = Tensor::ones((100, 100), DType::F32, &Device::Cpu)?;
        let y = d.apply(&x, Mode::Train)?;
        let v: Vec<f32> = y.flatten_all()?.to_vec1()?;
        let zeros = v.iter().filter(|&&e| e == 0.0).count() as f64 / 1e4;
        assert!((zeros - 0.25).abs() < 0.02, "{zeros}");
        let mean = v.iter().sum::<f32>() / 1e4;
        assert!((mean - 1.0).abs() < 0.03, "{mean}");
        assert_eq!(
            d.apply(&x, Mode::Eval)?.to_vec2::<f32>()?,
            x.to_vec2::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn refuses_p_of_one() {
        assert!(Dropout::new(1.0, 0).is_err());
        assert!(Dropout::new(-0.1, 0).is_err());
    }
}
