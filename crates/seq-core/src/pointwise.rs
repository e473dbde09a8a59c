//! GELU (exact or tanh form) and ReLU on the CPU as custom ops with their
//! own backward, alone ([`activation`]) or after a bias added along the last
//! dimension ([`bias_activation`], the feed-forward block's `g(x W^T + b)`
//! in one pass each way).
//!
//! GELU's derivative is written out: candle 0.11.1's `gelu_erf` backward
//! uses a rounded `1 / sqrt(2 pi)` and is off by up to 1.7e-7 in f64. In f64
//! the exact GELU uses libm's `erf`; in f32 a branch-free `erfc` (Numerical
//! Recipes' Chebyshev fit, relative error below 1.2e-7) so that the loop
//! vectorises.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};

use crate::cpu::{contiguous, storage_slice, supports, Float};
use crate::threads::{run_jobs, Job};

/// Elements per job.
const BLOCK: usize = 1 << 14;

/// The function `g`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `x`: the bias alone, whose gradient is then one pass of column sums.
    Identity,
    Relu,
    /// `x Phi(x)`, PyTorch's `approximate='none'`.
    Gelu,
    /// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`, PyTorch's `approximate='tanh'`.
    GeluTanh,
}

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// `erfc(z)` for `z >= 0` in f32: Numerical Recipes' `erfcc` (the published
/// coefficients, written out in full).
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn erfc_pos_f32(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = 0.170_872_77_f32;
    let p = p * t - 0.822_152_23;
    let p = p * t + 1.488_515_87;
    let p = p * t - 1.135_203_98;
    let p = p * t + 0.278_868_07;
    let p = p * t - 0.186_288_06;
    let p = p * t + 0.096_784_18;
    let p = p * t + 0.374_091_96;
    let p = p * t + 1.000_023_68;
    let p = p * t - 1.265_512_23;
    t * crate::cpu::exp_f32(-z * z + p)
}

/// `Phi(x)`, the standard normal CDF.
#[inline(always)]
fn phi_cdf<T: Float>(x: T) -> T {
    let x = candle_core::WithDType::to_f64(x);
    if T::DTYPE == DType::F64 {
        let erf = candle_core::cpu::erf::erf_f64(x * std::f64::consts::FRAC_1_SQRT_2);
        return T::of(0.5 * (1.0 + erf));
    }
    // Phi(x) = erfc(-x / sqrt 2) / 2, with erfc(-z) = 2 - erfc(z).
    let xf = x as f32;
    let z = xf * -std::f32::consts::FRAC_1_SQRT_2;
    let e = erfc_pos_f32(z.abs());
    T::of(f64::from(0.5 * if z >= 0.0 { e } else { 2.0 - e }))
}

impl Kind {
    /// `g(x)` and `g'(x)`.
    #[inline(always)]
    pub(crate) fn eval<T: Float>(self, x: T) -> (T, T) {
        let half = T::of(0.5);
        match self {
            Kind::Identity => (x, T::one()),
            Kind::Relu => {
                if x > T::zero() {
                    (x, T::one())
                } else {
                    (T::zero(), T::zero())
                }
            }
            Kind::Gelu => {
                let cdf = phi_cdf(x);
                let pdf = T::of(FRAC_1_SQRT_2PI) * T::exp_fast(-half * x * x);
                (x * cdf, cdf + x * pdf)
            }
            Kind::GeluTanh => {
                let (c, k) = (T::of(SQRT_2_OVER_PI), T::of(0.044_715));
                let u = c * (x + k * x * x * x);
                let th = u.tanh();
                let du = c * (T::one() + T::of(3.0) * k * x * x);
                (
                    half * x * (T::one() + th),
                    half * (T::one() + th) + half * x * (T::one() - th * th) * du,
                )
            }
        }
    }
}

/// `y = g(x + b)` (or `dx = dy g'(x + b)` when `dy` is given) over a
/// block of whole rows (`b` is one row wide); every element of `out` is
/// written.
struct Block<'a, T> {
    kind: Kind,
    x: &'a [T],
    bias: Option<&'a [T]>,
    dy: Option<&'a [T]>,
    out: &'a mut [MaybeUninit<T>],
}

impl<T: Float> Block<'_, T> {
    /// The loops with `g` known, so that each compiles to vector code.
    #[inline(always)]
    fn go(self, g: impl Fn(T) -> (T, T)) {
        let Block {
            x, bias, dy, out, ..
        } = self;
        let n = bias.map_or(x.len(), <[T]>::len).max(1);
        for (r, (out, x)) in out.chunks_mut(n).zip(x.chunks(n)).enumerate() {
            let dy = dy.map(|dy| &dy[r * n..r * n + x.len()]);
            match (bias, dy) {
                (Some(b), Some(dy)) => {
                    for (((o, &x), &b), &d) in out.iter_mut().zip(x).zip(b).zip(dy) {
                        o.write(d * g(x + b).1);
                    }
                }
                (Some(b), None) => {
                    for ((o, &x), &b) in out.iter_mut().zip(x).zip(b) {
                        o.write(g(x + b).0);
                    }
                }
                (None, Some(dy)) => {
                    for ((o, &x), &d) in out.iter_mut().zip(x).zip(dy) {
                        o.write(d * g(x).1);
                    }
                }
                (None, None) => {
                    for (o, &x) in out.iter_mut().zip(x) {
                        o.write(g(x).0);
                    }
                }
            }
        }
    }
}

impl<T: Float> Job for Block<'_, T> {
    #[inline(always)]
    fn run(self) {
        match self.kind {
            Kind::Identity => self.go(|x| Kind::Identity.eval(x)),
            Kind::Relu => self.go(|x| Kind::Relu.eval(x)),
            Kind::Gelu => self.go(|x| Kind::Gelu.eval(x)),
            Kind::GeluTanh => self.go(|x| Kind::GeluTanh.eval(x)),
        }
    }
}

/// Runs `kind` over `x` in blocks of whole rows: values, or input gradients
/// given `dy`. The result is written once, by the jobs (not zero-filled
/// first on one thread).
pub(crate) fn map<T: Float>(kind: Kind, x: &[T], bias: Option<&[T]>, dy: Option<&[T]>) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    let n = bias.map_or(1, <[T]>::len).max(1);
    let block = (BLOCK / n).max(1) * n;
    let jobs: Vec<Block<T>> = out.spare_capacity_mut()[..x.len()]
        .chunks_mut(block)
        .enumerate()
        .map(|(i, out)| {
            let at = i * block;
            Block {
                kind,
                x: &x[at..at + out.len()],
                bias,
                dy: dy.map(|dy| &dy[at..at + out.len()]),
                out,
            }
        })
        .collect();
    run_jobs::<T, _>(jobs);
    // SAFETY: the jobs' blocks cover the first `x.len()` elements of the
    // capacity, and each job wrote every element of its block (the loops of
    // `Block::go` run over all of `out`: `x`, `dy` and the rows of `bias`
    // are as long as it).
    unsafe { out.set_len(x.len()) };
    out
}

/// The sums over rows of `g` `[rows, n]`, by blocks of rows summed in order.
pub(crate) fn column_sums<T: Float>(g: &[T], n: usize) -> Vec<T> {
    let mut sums = vec![T::zero(); n];
    for row in g.chunks(n) {
        sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    }
    sums
}

struct Act(Kind);

impl CustomOp1 for Act {
    fn name(&self) -> &'static str {
        "activation"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match s {
            CpuStorage::F32(x) => CpuStorage::F32(map(self.0, contiguous(x, l)?, None, None)),
            CpuStorage::F64(x) => CpuStorage::F64(map(self.0, contiguous(x, l)?, None, None)),
            _ => candle_core::bail!("activation: f32 or f64 only"),
        };
        Ok((y, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        fn run<T: Float>(k: Kind, x: &Tensor, dy: &Tensor) -> candle_core::Result<Tensor> {
            let dy = dy.contiguous()?;
            let guards = [x, &dy].map(Tensor::storage_and_layout);
            let [xs, dys] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
            let dx = map(k, xs?, None, Some(dys?));
            Tensor::from_vec(dx, x.shape(), x.device())
        }
        Ok(Some(match x.dtype() {
            DType::F32 => run::<f32>(self.0, x, dy)?,
            _ => run::<f64>(self.0, x, dy)?,
        }))
    }
}

struct BiasAct(Kind);

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-activation"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match (x, b) {
            (CpuStorage::F32(x), CpuStorage::F32(b)) => CpuStorage::F32(map(
                self.0,
                contiguous(x, xl)?,
                Some(contiguous(b, bl)?),
                None,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(b)) => CpuStorage::F64(map(
                self.0,
                contiguous(x, xl)?,
                Some(contiguous(b, bl)?),
                None,
            )),
            _ => candle_core::bail!("bias activation: f32 or f64 only, one dtype"),
        };
        Ok((y, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        fn run<T: Float>(
            k: Kind,
            x: &Tensor,
            b: &Tensor,
            dy: &Tensor,
        ) -> candle_core::Result<(Tensor, Tensor)> {
            let n = b.elem_count();
            let dy = dy.contiguous()?;
            let guards = [x, b, &dy].map(Tensor::storage_and_layout);
            let [xs, bs, dys] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
            if k == Kind::Identity {
                // dx = dy as it is; db = its column sums.
                let db = column_sums(dys?, n);
                return Ok((dy.clone(), Tensor::from_vec(db, b.shape(), b.device())?));
            }
            let dx = map(k, xs?, Some(bs?), Some(dys?));
            let db = column_sums(&dx, n);
            Ok((
                Tensor::from_vec(dx, x.shape(), x.device())?,
                Tensor::from_vec(db, b.shape(), b.device())?,
            ))
        }
        let (dx, db) = match x.dtype() {
            DType::F32 => run::<f32>(self.0, x, b, dy)?,
            _ => run::<f64>(self.0, x, b, dy)?,
        };
        Ok((Some(dx), Some(db)))
    }
}

/// `g(x)` as one op on the CPU in f32/f64, `None` elsewhere.
pub(crate) fn activation(x: &Tensor, kind: Kind) -> candle_core::Result<Option<Tensor>> {
    if !supports(x) {
        return Ok(None);
    }
    Ok(Some(x.contiguous()?.apply_op1(Act(kind))?))
}

/// `g(x + b)`, `b` `[n]` along the last dimension of `x` `[..., n]`, as one
/// op on the CPU in f32/f64, `None` elsewhere.
pub(crate) fn bias_activation(
    x: &Tensor,
    b: &Tensor,
    kind: Kind,
) -> candle_core::Result<Option<Tensor>> {
    if !supports(x)
        || b.rank() != 1
        || x.dims().last() != Some(&b.elem_count())
        || b.dtype() != x.dtype()
    {
        return Ok(None);
    }
    Ok(Some(
        x.contiguous()?.apply_op2(&b.contiguous()?, BiasAct(kind))?,
    ))
}

/// `x + b`, `b` `[n]` along the last dimension of `x` `[..., n]`: one op
/// on the CPU in f32/f64 whose backward sums the gradient's rows in one
/// pass (candle's broadcast add reduces over the rows with a strided sum).
pub fn add_bias(x: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    match bias_activation(x, b, Kind::Identity)? {
        Some(y) => Ok(y),
        None => x.broadcast_add(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ReLU's values and gradient against candle's composed `relu` (away
    /// from 0, where the two conventions differ), over more elements than
    /// one job takes, so that several blocks write the result.
    #[test]
    fn relu_and_its_gradient_match_candles() {
        use candle_core::{Device, Var};
        let n = 7 * (BLOCK / 2 + 11); // three and a half blocks
        let values: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % 101) as f64 - 50.5) / 7.0)
            .collect();
        let x = Var::from_vec(values, (n / 7, 7), &Device::Cpu).unwrap();
        let r = Tensor::arange(0.0f64, n as f64, &Device::Cpu)
            .unwrap()
            .reshape((n / 7, 7))
            .unwrap();
        let ours = activation(x.as_tensor(), Kind::Relu).unwrap().unwrap();
        let theirs = x.as_tensor().relu().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(flat(&ours), flat(&theirs));
        let g = |y: &Tensor| {
            let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            flat(grads.get(x.as_tensor()).unwrap())
        };
        assert_eq!(g(&ours), g(&theirs));
    }

    /// f32 GELU against the exact f64 function: within 3e-7 of
    /// `max(1, |x|)` over [-10, 10] (half an f32 ulp at 10), derivative too.
    #[test]
    fn f32_gelu_is_close_to_the_exact_function() {
        let mut worst = (0.0f64, 0.0f64);
        for i in -200_000..200_000 {
            let x = i as f32 * 5e-5;
            let (g, dg) = Kind::Gelu.eval(x);
            let (ge, dge) = Kind::Gelu.eval(f64::from(x));
            let scale = f64::from(x.abs()).max(1.0);
            worst.0 = worst.0.max((f64::from(g) - ge).abs() / scale);
            worst.1 = worst.1.max((f64::from(dg) - dge).abs());
        }
        assert!(worst.0 < 3e-7 && worst.1 < 3e-7, "{worst:?}");
    }

    /// f64 GELU's derivative against central differences of the function.
    #[test]
    fn f64_gelu_derivatives_match_finite_differences() {
        for kind in [Kind::Gelu, Kind::GeluTanh] {
            for i in -60..60 {
                let x = i as f64 * 0.1 + 0.013;
                let h = 1e-5;
                let fd = (kind.eval(x + h).0 - kind.eval(x - h).0) / (2.0 * h);
                let (_, d) = kind.eval(x);
                assert!((fd - d).abs() < 1e-9, "{kind:?} at {x}: {d} vs {fd}");
            }
        }
    }
}
