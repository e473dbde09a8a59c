//! Layer norm on the CPU as one custom op over `(x, weight, bias)` with its
//! own backward: one pass over each row forward (mean, variance, affine),
//! one pass backward, where the composition of candle ops it replaces
//! makes about ten tensors each way.
//!
//! Rows are cut into blocks of a fixed size, whatever the number of
//! threads; the weight and bias gradients are summed per block and the
//! blocks' sums added in order, so results do not depend on the core count.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use crate::cpu::{contiguous, storage_slice, sum, sum_map, Float};
use crate::threads::{run_jobs, Job};

/// Rows per job.
const BLOCK: usize = 64;

/// The op: `eps` and, once run, each row's mean and `1 / sqrt(var + eps)`.
pub(crate) struct LayerNormOp {
    pub eps: f64,
    saved: Mutex<Option<CpuStorage>>,
}

impl LayerNormOp {
    pub fn new(eps: f64) -> Self {
        LayerNormOp {
            eps,
            saved: Mutex::new(None),
        }
    }
}

/// Forward over `rows` rows of width `n`: `y`, and per row `[mean, rstd]`.
fn forward<T: Float>(x: &[T], w: &[T], b: &[T], n: usize, eps: f64) -> (Vec<T>, Vec<T>) {
    let rows = x.len() / n.max(1);
    let mut y = vec![T::zero(); x.len()];
    let mut stats = vec![T::zero(); 2 * rows];
    let jobs: Vec<Fwd<T>> = y
        .chunks_mut(BLOCK * n)
        .zip(stats.chunks_mut(2 * BLOCK))
        .enumerate()
        .map(|(i, (y, stats))| Fwd {
            x: &x[i * BLOCK * n..][..y.len()],
            w,
            b,
            y,
            stats,
            n,
            eps,
        })
        .collect();
    run_jobs::<T, _>(jobs);
    (y, stats)
}

struct Fwd<'a, T> {
    x: &'a [T],
    w: &'a [T],
    b: &'a [T],
    y: &'a mut [T],
    stats: &'a mut [T],
    n: usize,
    eps: f64,
}

impl<T: Float> Job for Fwd<'_, T> {
    #[inline(always)]
    fn run(self) {
        let inv_n = T::one() / T::of(self.n as f64);
        let eps = T::of(self.eps);
        for ((x, y), st) in self
            .x
            .chunks(self.n)
            .zip(self.y.chunks_mut(self.n))
            .zip(self.stats.chunks_mut(2))
        {
            // Sums in eight lanes: one running sum is a serial chain of
            // additions that the compiler may not reorder into vectors.
            let mean = sum(x) * inv_n;
            let var = sum_map(x, |v| (v - mean) * (v - mean)) * inv_n;
            let rstd = T::one() / (var + eps).sqrt();
            for (((y, &x), &w), &b) in y.iter_mut().zip(x).zip(self.w).zip(self.b) {
                *y = (x - mean) * rstd * w + b;
            }
            st[0] = mean;
            st[1] = rstd;
        }
    }
}

struct Bwd<'a, T> {
    x: &'a [T],
    w: &'a [T],
    dy: &'a [T],
    stats: &'a [T],
    dx: &'a mut [T],
    /// This block's share of `[dw, db]`.
    dwb: &'a mut [T],
    n: usize,
}

impl<T: Float> Job for Bwd<'_, T> {
    #[inline(always)]
    fn run(self) {
        let n = self.n;
        let inv_n = T::one() / T::of(n as f64);
        let (dw, db) = self.dwb.split_at_mut(n);
        for (((x, dy), dx), st) in self
            .x
            .chunks(n)
            .zip(self.dy.chunks(n))
            .zip(self.dx.chunks_mut(n))
            .zip(self.stats.chunks(2))
        {
            let (mean, rstd) = (st[0], st[1]);
            // xhat = (x - mean) rstd;  g = dy w
            // dx = rstd (g - mean(g) - xhat mean(g xhat))
            // dx holds g, then g xhat for the sums, before its final value.
            for i in 0..n {
                let xhat = (x[i] - mean) * rstd;
                dw[i] += dy[i] * xhat;
                db[i] += dy[i];
                dx[i] = dy[i] * self.w[i];
            }
            let mg = sum(dx) * inv_n;
            for i in 0..n {
                dx[i] *= (x[i] - mean) * rstd;
            }
            let mgx = sum(dx) * inv_n;
            for i in 0..n {
                let xhat = (x[i] - mean) * rstd;
                dx[i] = rstd * (dy[i] * self.w[i] - mg - xhat * mgx);
            }
        }
    }
}

/// Backward: `dx` and `[dw, db]` summed over the blocks in order.
fn backward<T: Float>(x: &[T], w: &[T], dy: &[T], stats: &[T], n: usize) -> (Vec<T>, Vec<T>) {
    let mut dx = vec![T::zero(); x.len()];
    let blocks = x.len().div_ceil((BLOCK * n).max(1));
    let mut parts = vec![T::zero(); blocks * 2 * n];
    let jobs: Vec<Bwd<T>> = dx
        .chunks_mut(BLOCK * n)
        .zip(parts.chunks_mut(2 * n))
        .enumerate()
        .map(|(i, (dx, dwb))| Bwd {
            x: &x[i * BLOCK * n..][..dx.len()],
            w,
            dy: &dy[i * BLOCK * n..][..dx.len()],
            stats: &stats[i * 2 * BLOCK..],
            dx,
            dwb,
            n,
        })
        .collect();
    run_jobs::<T, _>(jobs);
    let mut dwb = vec![T::zero(); 2 * n];
    for part in parts.chunks(2 * n) {
        dwb.iter_mut().zip(part).for_each(|(a, &p)| *a += p);
    }
    (dx, dwb)
}

impl LayerNormOp {
    fn bwd_typed<T: Float>(
        &self,
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let n = w.elem_count();
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(stats) = saved.as_ref() else {
            candle_core::bail!("layer norm: backward before forward")
        };
        let dy = dy.contiguous()?;
        let guards = [x, w, &dy].map(Tensor::storage_and_layout);
        let [x_, w_, dy_] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
        let (dx, dwb) = backward(x_?, w_?, dy_?, stats.as_slice::<T>()?, n);
        let dev = x.device();
        let dw = Tensor::from_slice(&dwb[..n], n, dev)?;
        let db = Tensor::from_slice(&dwb[n..], n, dev)?;
        Ok((Tensor::from_vec(dx, x.shape(), dev)?, dw, db))
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = wl.shape().elem_count();
        fn run<T: Float>(op: &LayerNormOp, (x, w, b): (&[T], &[T], &[T]), n: usize) -> CpuStorage {
            let (y, stats) = forward(x, w, b, n, op.eps);
            *op.saved.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(T::to_cpu_storage_owned(stats));
            T::to_cpu_storage_owned(y)
        }
        let y = match (x, w, b) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => run(
                self,
                (contiguous(x, xl)?, contiguous(w, wl)?, contiguous(b, bl)?),
                n,
            ),
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => run(
                self,
                (contiguous(x, xl)?, contiguous(w, wl)?, contiguous(b, bl)?),
                n,
            ),
            _ => candle_core::bail!("layer norm: f32 or f64 only, one dtype"),
        };
        Ok((y, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = match x.dtype() {
            candle_core::DType::F32 => self.bwd_typed::<f32>(x, w, dy)?,
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, w, dy)?,
            dt => candle_core::bail!("layer norm: f32 or f64 only, got {dt:?}"),
        };
        Ok((Some(dx), Some(dw), Some(db)))
    }
}
