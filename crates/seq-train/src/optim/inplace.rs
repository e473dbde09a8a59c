//! Adam's update in place on the CPU: the moments and the weights are
//! rewritten where they lie, in three passes and no allocation. Composed
//! from tensor ops the same update allocates a dozen tensors the size of
//! the weights (a 20,000-word embedding table: 5 MB each) every step.
//!
//! The arithmetic is that of the composed path in [`super::adam`],
//! operation for operation (scalars rounded to the element type first, as
//! candle's `affine` does), so both give the same bits.

use candle_core::{bail, CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor, WithDType};
use seq_core::cpu::{contiguous, contiguous_mut};

/// Whether the in-place path applies: CPU tensors, contiguous, f32 or f64.
pub(super) fn applies(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| seq_core::cpu::supports(t) && t.is_contiguous())
}

/// `s = decay * s + (1 - decay) * g`, or `g^2` in place of `g`: Adam's
/// first and second moments.
pub(super) struct Moment {
    pub decay: f64,
    pub squared: bool,
}

/// `p = p * (1 - lr * wd) - lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps)`.
pub(super) struct Step {
    pub lr: f64,
    pub decoupled_decay: f64,
    pub bias1: f64,
    pub bias2: f64,
    pub eps: f64,
}

impl Moment {
    fn apply<T: WithDType>(&self, s: &mut [T], g: &[T]) {
        let (keep, take) = (T::from_f64(self.decay), T::from_f64(1.0 - self.decay));
        for (s, &g) in s.iter_mut().zip(g) {
            let g = if self.squared { g * g } else { g };
            *s = *s * keep + g * take;
        }
    }
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "adam-moment"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, ls: &Layout, g: &CpuStorage, lg: &Layout) -> Result<()> {
        match (s, g) {
            (CpuStorage::F32(s), CpuStorage::F32(g)) => {
                self.apply(contiguous_mut(s, ls)?, contiguous(g, lg)?)
            }
            (CpuStorage::F64(s), CpuStorage::F64(g)) => {
                self.apply(contiguous_mut(s, ls)?, contiguous(g, lg)?)
            }
            _ => bail!("adam in place: f32 or f64 tensors of one dtype"),
        }
        Ok(())
    }
}

impl Step {
    fn apply<T: WithDType + num_traits::Float>(&self, p: &mut [T], m: &[T], v: &[T]) {
        let t = T::from_f64;
        let decay = t(1.0 - self.lr * self.decoupled_decay);
        let (inv_sqrt_bias2, eps) = (t(1.0 / self.bias2.sqrt()), t(self.eps));
        let rate = t(self.lr / self.bias1);
        for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
            let p0 = if self.decoupled_decay != 0.0 {
                *p * decay
            } else {
                *p
            };
            let denom = v.sqrt() * inv_sqrt_bias2 + eps;
            *p = p0 - m / denom * rate;
        }
    }
}

impl InplaceOp3 for Step {
    fn name(&self) -> &'static str {
        "adam-step"
    }

    fn cpu_fwd(
        &self,
        p: &mut CpuStorage,
        lp: &Layout,
        m: &CpuStorage,
        lm: &Layout,
        v: &CpuStorage,
        lv: &Layout,
    ) -> Result<()> {
        match (p, m, v) {
            (CpuStorage::F32(p), CpuStorage::F32(m), CpuStorage::F32(v)) => self.apply(
                contiguous_mut(p, lp)?,
                contiguous(m, lm)?,
                contiguous(v, lv)?,
            ),
            (CpuStorage::F64(p), CpuStorage::F64(m), CpuStorage::F64(v)) => self.apply(
                contiguous_mut(p, lp)?,
                contiguous(m, lm)?,
                contiguous(v, lv)?,
            ),
            _ => bail!("adam in place: f32 or f64 tensors of one dtype"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};

    use super::super::adam::{update, Decay};

    /// Three AdamW steps in f32: in place (contiguous weights) and composed
    /// (the same weights as a transposed view, which the in-place path
    /// declines) agree to the bit.
    #[test]
    fn in_place_and_composed_updates_agree_to_the_bit() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (6, 5), &dev).unwrap();
        let in_place = w.copy().unwrap();
        let mut composed = w.t().unwrap().contiguous().unwrap().t().unwrap(); // [6, 5], not contiguous
        assert!(!composed.is_contiguous());
        let (mut slots_a, mut slots_b) = (HashMap::new(), HashMap::new());
        for t in 1..=3u64 {
            let g = Tensor::randn(0f32, 1.0, (6, 5), &dev).unwrap();
            let args = (1e-2, (0.9, 0.999), 1e-8);
            let a = update(
                &in_place,
                g.clone(),
                &mut slots_a,
                t,
                args.0,
                args.1,
                args.2,
                Decay::Decoupled(0.1),
            )
            .unwrap();
            assert!(a.is_none(), "step {t}: updated in place");
            let b = update(
                &composed,
                g,
                &mut slots_b,
                t,
                args.0,
                args.1,
                args.2,
                Decay::Decoupled(0.1),
            )
            .unwrap();
            let b = b.expect("the composed path returns the new weights");
            composed = b.t().unwrap().contiguous().unwrap().t().unwrap();
            let (a, b) = (
                in_place.to_vec2::<f32>().unwrap(),
                composed.to_vec2::<f32>().unwrap(),
            );
            assert_eq!(a, b, "step {t}");
        }
    }
}
