//! [`Dropout`]: inverted dropout (Srivastava et al., 2014), seeded.

use std::fmt;
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};

use crate::cpu::{contiguous, Float};
use crate::rng::{hash64, hash_keep};
use crate::threads::{run_jobs, Job};
use crate::{Error, Mode, Module, Result, Seq};

/// Zeroes each entry with probability `p` in training and scales the rest
/// by `1 / (1 - p)`, so evaluation is the identity; PyTorch's `nn.Dropout`.
///
/// Whether entry `i` is kept is a hash of `i` and a key made from the
/// layer's seed, the training step ([`rng::set_step`](crate::rng::set_step))
/// and the number of masks drawn in this step ([`Dropout::next_key`]), as
/// counter-based generators (Philox in PyTorch and JAX) do: a seeded run
/// drops the same units every time and on any number of threads, a run
/// resumed at step `n` drops what the uninterrupted run dropped (candle's
/// CPU generator cannot be seeded), and the mask is never stored: on the
/// CPU dropout is one op whose backward recomputes it.
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    seed: u64,
    /// The step of the last mask and how many were drawn in it.
    draws: Mutex<(u64, u64)>,
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
            draws: Mutex::new((u64::MAX, 0)),
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

    /// The key of the next mask: the seed, this step
    /// ([`rng::step`](crate::rng::step)) and the masks already drawn in it,
    /// so a layer applied twice in one step drops different units each
    /// time. Kernels that draw a mask element by element from a hash of
    /// its position (the fused attention) take their key here.
    pub fn next_key(&self) -> u64 {
        let step = crate::rng::step();
        let mut draws = self.draws.lock().unwrap_or_else(|e| e.into_inner());
        if draws.0 != step {
            *draws = (step, 0);
        }
        let n = draws.1;
        draws.1 += 1;
        hash64(hash64(self.seed, step), n)
    }

    /// Applies dropout to any tensor: identity in [`Mode::Eval`] or for `p = 0`.
    pub fn apply(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        if !mode.is_train() || self.p == 0.0 {
            return Ok(xs.clone());
        }
        // Entry i of this batch is entry first + i of the global batch
        // (rows before this process's share, see `rng::set_row_offset`).
        let per_row = xs.elem_count() / xs.dims().first().copied().unwrap_or(1).max(1);
        let op = Mask {
            keep: 1.0 - self.p,
            key: self.next_key(),
            first: crate::rng::row_offset() * per_row as u64,
        };
        if crate::cpu::supports(xs) {
            return Ok(xs.contiguous()?.apply_op1(op)?);
        }
        // Elsewhere the same mask, made on the CPU.
        let mask = op.scales::<f32>(xs.elem_count());
        let mask = Tensor::from_vec(mask, xs.shape(), &Device::Cpu)?
            .to_dtype(xs.dtype())?
            .to_device(xs.device())?;
        Ok(xs.mul(&mask)?)
    }
}

/// One dropout mask: entry `i` is kept, scaled by `1 / keep`, when
/// [`hash_keep`]`(key, i, keep)`.
#[derive(Debug, Clone, Copy)]
struct Mask {
    keep: f64,
    key: u64,
    /// The global index of the tensor's first entry.
    first: u64,
}

/// Entries per job.
const BLOCK: usize = 1 << 14;

impl Mask {
    /// The mask's scales for `n` entries.
    fn scales<T: Float>(&self, n: usize) -> Vec<T> {
        let ones = vec![T::one(); n];
        self.times(&ones)
    }

    /// `x` times the mask, in blocks on candle's CPU pool.
    fn times<T: Float>(&self, x: &[T]) -> Vec<T> {
        let mut out = vec![T::zero(); x.len()];
        let jobs: Vec<Block<T>> = out
            .chunks_mut(BLOCK)
            .zip(x.chunks(BLOCK))
            .enumerate()
            .map(|(i, (out, x))| Block {
                mask: *self,
                first: self.first + (i * BLOCK) as u64,
                x,
                out,
            })
            .collect();
        run_jobs::<T, _>(jobs);
        out
    }
}

struct Block<'a, T> {
    mask: Mask,
    first: u64,
    x: &'a [T],
    out: &'a mut [T],
}

impl<T: Float> Job for Block<'_, T> {
    #[inline(always)]
    fn run(self) {
        let scale = T::of(1.0 / self.mask.keep);
        for (i, (o, &x)) in self.out.iter_mut().zip(self.x).enumerate() {
            let kept = hash_keep(self.mask.key, self.first + i as u64, self.mask.keep);
            *o = if kept { x * scale } else { T::zero() };
        }
    }
}

impl CustomOp1 for Mask {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match s {
            CpuStorage::F32(x) => CpuStorage::F32(self.times(contiguous(x, l)?)),
            CpuStorage::F64(x) => CpuStorage::F64(self.times(contiguous(x, l)?)),
            _ => candle_core::bail!("dropout: f32 or f64 only"),
        };
        Ok((y, l.shape().clone()))
    }

    /// The same mask times the gradient.
    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(dy.contiguous()?.apply_op1(*self)?))
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

    /// The backward pass multiplies by the forward's mask (recomputed, not
    /// stored); a second mask in the same step differs, and the same step
    /// draws the same masks again.
    #[test]
    fn backward_uses_the_forward_mask_and_steps_repeat() -> Result<()> {
        let d = Dropout::new(0.5, 3)?;
        let x =
            candle_core::Var::from_tensor(&(Tensor::rand(0.5f64, 1.5, (50, 40), &Device::Cpu)?))?;
        crate::rng::set_step(11);
        let y = d.apply(x.as_tensor(), Mode::Train)?;
        let g = y.sum_all()?.backward()?;
        let dx = g
            .get(x.as_tensor())
            .ok_or(Error::config("test", "no gradient"))?;
        // y = x * scale where kept, so dy/dx = y / x exactly.
        let want = (&y / x.as_tensor())?;
        assert_eq!(dx.to_vec2::<f64>()?, want.to_vec2::<f64>()?);
        let again = d.apply(x.as_tensor(), Mode::Train)?;
        assert_ne!(again.to_vec2::<f64>()?, y.to_vec2::<f64>()?);
        crate::rng::set_step(12);
        let other_step = d.apply(x.as_tensor(), Mode::Train)?;
        crate::rng::set_step(11);
        let repeat = Dropout::new(0.5, 3)?.apply(x.as_tensor(), Mode::Train)?;
        assert_eq!(repeat.to_vec2::<f64>()?, y.to_vec2::<f64>()?);
        assert_ne!(other_step.to_vec2::<f64>()?, y.to_vec2::<f64>()?);
        Ok(())
    }

    #[test]
    fn refuses_p_of_one() {
        assert!(Dropout::new(1.0, 0).is_err());
        assert!(Dropout::new(-0.1, 0).is_err());
    }
}
