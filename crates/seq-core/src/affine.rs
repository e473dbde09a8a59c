//! `g(x W^T + b)` on the CPU as one custom op with its own backward: the
//! product of a [`crate::Linear`] layer with its bias and, for ReLU, its
//! activation.
//!
//! The composition it replaces (candle's matmul, then a bias op, then the
//! activation) zero-fills the output on one thread, then reads it and
//! writes a second one with the bias added, and a third for ReLU. Here the
//! rows are cut into jobs of up to 512; each job's rows start as copies of
//! the bias, receive `x W^T` through the `gemm` crate on top of them and go
//! through ReLU in place.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use crate::cpu::{contiguous, fill_rows, gemm, storage_slice, supports, Float, View};
use crate::pointwise::{column_sums, map, Kind};
use crate::threads::{run_jobs, Job};

/// The most rows per job: each job packs `W` again for its product, so a
/// job needs rows enough to repay that; the rows are split into equal jobs
/// by their number alone, whatever the number of threads, so the bits do
/// not depend on it.
const ROWS: usize = 512;

/// A chunk of whole rows: `y = g(x W^T + b)`, `x` `[r, in]`, `y` `[r, out]`.
struct Rows<'a, T> {
    kind: Kind,
    x: &'a [T],
    w: &'a [T],
    b: &'a [T],
    y: &'a mut [MaybeUninit<T>],
}

impl<T: Float> Job for Rows<'_, T> {
    #[inline(always)]
    fn run(self) {
        let Rows { kind, x, w, b, y } = self;
        let (o, i) = (b.len(), w.len() / b.len());
        let y = fill_rows(y, b); // every row starts as the bias
        let rows = y.len() / o;
        let x = View {
            data: x,
            at: 0,
            rs: i,
            cs: 1,
        };
        // W^T `[in, out]`: element (k, j) is W[j, k].
        let wt = View {
            data: w,
            at: 0,
            rs: 1,
            cs: i,
        };
        gemm(y, (0, o, 1), x, wt, (rows, o, i), true);
        if kind == Kind::Relu {
            y.iter_mut().for_each(|v| *v = Kind::Relu.eval(*v).0);
        }
    }
}

/// `g(x W^T + b)` for `x` `[rows, in]`, `w` `[out, in]`, `b` `[out]`;
/// an output too large to allocate is an error.
fn forward<T: Float>(kind: Kind, x: &[T], w: &[T], b: &[T]) -> candle_core::Result<Vec<T>> {
    let (o, i) = (b.len(), w.len() / b.len().max(1));
    let rows = x.len() / i.max(1);
    let size = crate::memory::elements("linear", &[rows, o]).map_err(candle_core::Error::wrap)?;
    let mut y = crate::memory::with_capacity("linear", size).map_err(candle_core::Error::wrap)?;
    let n = rows.div_ceil(ROWS);
    let mut jobs = Vec::with_capacity(n);
    let mut rest = &mut y.spare_capacity_mut()[..rows * o];
    for j in 0..n {
        let (from, to) = (j * rows / n, (j + 1) * rows / n);
        let (chunk, tail) = std::mem::take(&mut rest).split_at_mut((to - from) * o);
        rest = tail;
        let x = &x[from * i..to * i];
        jobs.push(Rows {
            kind,
            x,
            w,
            b,
            y: chunk,
        });
    }
    run_jobs::<T, _>(jobs);
    // SAFETY: the jobs' chunks cover the first `rows * o` elements of the
    // capacity, and each job wrote every element of its chunk.
    unsafe { y.set_len(rows * o) };
    Ok(y)
}

/// The op: `kind` is [`Kind::Identity`] or [`Kind::Relu`] (the backward
/// reads ReLU's derivative from the output).
struct Affine(Kind);

impl CustomOp3 for Affine {
    fn name(&self) -> &'static str {
        "affine"
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
        let y = match (x, w, b) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => {
                let [x, w, b] = [(x, xl), (w, wl), (b, bl)].map(|(s, l)| contiguous(s, l));
                CpuStorage::F32(forward(self.0, x?, w?, b?)?)
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => {
                let [x, w, b] = [(x, xl), (w, wl), (b, bl)].map(|(s, l)| contiguous(s, l));
                CpuStorage::F64(forward(self.0, x?, w?, b?)?)
            }
            _ => candle_core::bail!("affine: f32 or f64 only, one dtype"),
        };
        let (rows, out) = (xl.shape().dims()[0], wl.shape().dims()[0]);
        Ok((y, Shape::from((rows, out))))
    }

    /// `dz = dy g'(z)`; `dx = dz W`, `dW = dz^T x`, `db` the column sums of `dz`.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        fn run<T: Float>(
            kind: Kind,
            b: &Tensor,
            y: &Tensor,
            dy: &Tensor,
        ) -> candle_core::Result<(Tensor, Tensor)> {
            let dy = dy.contiguous()?;
            let guards = [y, &dy].map(Tensor::storage_and_layout);
            let [ys, dys] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
            let n = b.elem_count();
            let (dz, db) = match kind {
                Kind::Relu => {
                    let dz = map(Kind::Relu, ys?, None, Some(dys?));
                    let db = column_sums(&dz, n);
                    (Tensor::from_vec(dz, dy.shape(), dy.device())?, db)
                }
                _ => (dy.clone(), column_sums(dys?, n)),
            };
            Ok((dz, Tensor::from_vec(db, b.shape(), b.device())?))
        }
        let (dz, db) = match x.dtype() {
            DType::F32 => run::<f32>(self.0, b, y, dy)?,
            _ => run::<f64>(self.0, b, y, dy)?,
        };
        let dx = dz.matmul(w)?; // [rows, in]
        let dw = dz.t()?.matmul(x)?; // [out, in]
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `g(x W^T + b)` for `x` `[rows, in]`, `w` `[out, in]`, `b` `[out]` as
/// one op on the CPU in f32/f64 for `g` the identity or ReLU; `None`
/// elsewhere (other devices, dtypes, activations or shapes).
pub(crate) fn affine(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    kind: Kind,
) -> candle_core::Result<Option<Tensor>> {
    let fits = matches!((x.dims(), w.dims(), b.dims()),
        ([_, i], [o, wi], [bo]) if i == wi && o == bo && *i > 0 && *o > 0);
    if !fits
        || !matches!(kind, Kind::Identity | Kind::Relu)
        || !supports(x)
        || w.dtype() != x.dtype()
        || b.dtype() != x.dtype()
        || !w.device().is_cpu()
        || !b.device().is_cpu()
    {
        return Ok(None);
    }
    let [x, w, b] = [x, w, b].map(Tensor::contiguous);
    Ok(Some(x?.apply_op3(&w?, &b?, Affine(kind))?))
}
