//! [`Conv1d`](crate::Conv1d) on the CPU as one custom op with its own
//! backward pass: per sequence and tap, one matrix product reading the
//! input in place (a strided view of its rows), with no padded copy of the
//! input and no gathered copies of the taps: a tap simply skips the outputs
//! whose input step falls in the padding. Blocks of sequences run on
//! candle's CPU pool ([`seq_core::threads`]); each adds its share of the
//! weight gradient.
//!
//! With `s` the stride, `d` the dilation, `left` the padding before and `x`
//! the input of one sequence `[T, C_in]`, zero outside `0..T`:
//!
//! ```text
//! u               = s*t + d*k - left                     the input step of output t, tap k
//! y[t]            = bias + sum_k x[u] W_k^T              W_k = weight[:, :, k]   [C_out, C_in]
//! dx[u]          += dy[t] W_k
//! dW_k           += sum_t dy[t]^T x[u]
//! ```
//!
//! One group only; grouped convolutions take the composed path. In f32 on
//! a CPU with AVX-512F the forward pass runs in register tiles instead
//! ([`avx512`]), which sum every tap before storing: the bench's stack of
//! three 64 -> 64 convolutions with ReLU took 6.1-6.5 ms forward there,
//! against 6.5-7.1 ms with a product per tap (each reading and writing the
//! output), in alternating runs with the README's allocator settings.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, WithDType};
use seq_core::cpu::{contiguous, fill_rows, gemm, storage_slice, View};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FusedConv1d {
    pub batch: usize,
    /// Input steps (unpadded), and the padding before them.
    pub time: usize,
    pub left: usize,
    pub out_len: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
}

impl FusedConv1d {
    /// `W_k^T` `[C_in, C_out]` (`transposed`) or `W_k` `[C_out, C_in]` in
    /// the weight `[C_out, C_in, K]`.
    fn tap<'a, T>(&self, w: &'a [T], k: usize, transposed: bool) -> View<'a, T> {
        let (per_out, per_in) = (self.in_channels * self.kernel, self.kernel);
        match transposed {
            true => View {
                data: w,
                at: k,
                rs: per_in,
                cs: per_out,
            },
            false => View {
                data: w,
                at: k,
                rs: per_out,
                cs: per_in,
            },
        }
    }

    /// The outputs `t` whose tap `k` reads a real input step (not padding).
    fn outputs(&self, k: usize) -> std::ops::Range<usize> {
        let (s, shift) = (self.stride, k * self.dilation);
        let first = self.left.saturating_sub(shift).div_ceil(s);
        let end = (self.time + self.left).saturating_sub(shift).div_ceil(s);
        first..end.min(self.out_len).max(first)
    }

    /// The input rows `u = s*t + d*k - left` of outputs `ts` (from
    /// [`Self::outputs`]) for tap `k`, in one sequence's input.
    fn rows<'a, T>(&self, x: &'a [T], k: usize, ts: &std::ops::Range<usize>) -> View<'a, T> {
        let c = self.in_channels;
        let u = self.stride * ts.start + k * self.dilation - self.left;
        View {
            data: x,
            at: u * c,
            rs: self.stride * c,
            cs: 1,
        }
    }

    /// The forward pass's jobs: blocks of sequences, each with its part of
    /// `y`'s spare capacity (`[n, T_out, C_out]`, which must hold the whole
    /// output) to write.
    #[allow(clippy::type_complexity)]
    fn output_parts<'a, T>(
        &self,
        y: &'a mut Vec<T>,
    ) -> Vec<(std::ops::Range<usize>, &'a mut [std::mem::MaybeUninit<T>])> {
        let row = self.out_len * self.out_channels;
        let mut rest = &mut y.spare_capacity_mut()[..self.batch * row];
        seq_core::threads::blocks(self.batch, 1)
            .into_iter()
            .map(|r| {
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(r.len() * row);
                rest = tail;
                (r, part)
            })
            .collect()
    }

    fn forward<T: WithDType>(&self, x: &[T], w: &[T], bias: &[T]) -> Vec<T> {
        let (t_in, t_out, ci, co) = (self.time, self.out_len, self.in_channels, self.out_channels);
        let len = self.batch * t_out * co;
        let mut y = Vec::with_capacity(len);
        seq_core::threads::run_each(self.output_parts(&mut y), |(r, part)| {
            for (i, y) in r.zip(part.chunks_mut(t_out * co)) {
                let y = fill_rows(y, bias); // every output starts as the bias
                let x = &x[i * t_in * ci..(i + 1) * t_in * ci];
                for k in 0..self.kernel {
                    let ts = self.outputs(k);
                    let dims = (ts.len(), co, ci);
                    let rows = self.rows(x, k, &ts);
                    gemm(
                        y,
                        (ts.start * co, co, 1),
                        rows,
                        self.tap(w, k, true),
                        dims,
                        true,
                    );
                }
            }
        });
        // SAFETY: the jobs' parts cover the first `len` elements of the
        // capacity, one sequence's outputs each, and `fill_rows` wrote every
        // element of each.
        unsafe { y.set_len(len) };
        y
    }

    /// `(dx, dweight, dbias)`; `dx` only when `want_dx`.
    fn backward<T: WithDType>(
        &self,
        x: &[T],
        w: &[T],
        dy: &[T],
        want_dx: bool,
    ) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
        let (t_in, t_out, ci, co) = (self.time, self.out_len, self.in_channels, self.out_channels);
        // One share of the weight gradients per `share_rows` sequences,
        // added in order: the same bits on any number of threads.
        let (share_rows, blocks) = seq_core::threads::shares(self.batch, 1);
        let share = co * ci * self.kernel + co; // dW tap-major [K, C_out, C_in], then db
        let mut dx = vec![T::zero(); if want_dx { self.batch * t_in * ci } else { 0 }];
        let mut shares = vec![T::zero(); self.batch.div_ceil(share_rows).max(1) * share];
        let mut jobs = Vec::new();
        let (mut dx_rest, mut share_rest) = (&mut dx[..], &mut shares[..]);
        for r in blocks {
            let (dx_part, tail) = std::mem::take(&mut dx_rest).split_at_mut(if want_dx {
                r.len() * t_in * ci
            } else {
                0
            });
            let n_shares = r.len().div_ceil(share_rows).max(1);
            let (s, tail_s) = std::mem::take(&mut share_rest).split_at_mut(n_shares * share);
            (dx_rest, share_rest) = (tail, tail_s);
            jobs.push((r, dx_part, s));
        }
        seq_core::threads::run_each(jobs, |(r, dx_part, s)| {
            for (j, i) in r.enumerate() {
                let s = &mut s[j / share_rows * share..][..share];
                let (dw, db) = s.split_at_mut(co * ci * self.kernel);
                let x = &x[i * t_in * ci..(i + 1) * t_in * ci];
                let dy = &dy[i * t_out * co..(i + 1) * t_out * co];
                for k in 0..self.kernel {
                    let ts = self.outputs(k);
                    let rows = self.rows(x, k, &ts);
                    if want_dx {
                        let dx = &mut dx_part[j * t_in * ci..(j + 1) * t_in * ci];
                        let dy_rows = View {
                            data: dy,
                            at: ts.start * co,
                            rs: co,
                            cs: 1,
                        };
                        let at = (rows.at, rows.rs, 1);
                        gemm(
                            dx,
                            at,
                            dy_rows,
                            self.tap(w, k, false),
                            (ts.len(), ci, co),
                            true,
                        );
                    }
                    let dy_cols = View {
                        data: dy,
                        at: ts.start * co,
                        rs: 1,
                        cs: co,
                    }; // dy^T
                    let at = (k * co * ci, ci, 1);
                    gemm(dw, at, dy_cols, rows, (co, ci, ts.len()), true);
                }
                for row in dy.chunks(co) {
                    db.iter_mut().zip(row).for_each(|(s, v)| *s += *v);
                }
            }
        });
        let mut sum = shares.chunks(share);
        let mut total = sum.next().map(<[T]>::to_vec).unwrap_or_default();
        for s in sum {
            total.iter_mut().zip(s).for_each(|(a, b)| *a += *b);
        }
        let db = total.split_off(co * ci * self.kernel);
        // [K, C_out, C_in] -> the weight's [C_out, C_in, K]
        let k = self.kernel;
        let dw = (0..co * ci * k)
            .map(|i| total[(i % k) * co * ci + i / k])
            .collect();
        (want_dx.then_some(dx), dw, db)
    }
}

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    contiguous(T::cpu_storage_as_slice(s)?, l)
}

impl FusedConv1d {
    #[allow(clippy::type_complexity)]
    fn grads<T: WithDType>(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let guards = [x, w, &grad].map(Tensor::storage_and_layout);
        let [xs, ws, gs] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
        let (dx, dw, db) = self.backward(xs?, ws?, gs?, x.track_op());
        let dev = x.device();
        let dx = dx
            .map(|dx| Tensor::from_vec(dx, x.shape(), dev))
            .transpose()?;
        Ok((
            dx,
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, b.shape(), dev)?),
        ))
    }
}

impl CustomOp3 for FusedConv1d {
    fn name(&self) -> &'static str {
        "fused-conv1d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match s1 {
            CpuStorage::F32(_) => {
                let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
                #[cfg(target_arch = "x86_64")]
                let y = self.forward_avx512(x, w, b);
                #[cfg(not(target_arch = "x86_64"))]
                let y = None;
                CpuStorage::F32(y.unwrap_or_else(|| self.forward::<f32>(x, w, b)))
            }
            CpuStorage::F64(_) => {
                CpuStorage::F64(self.forward::<f64>(slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?))
            }
            _ => candle_core::bail!("fused conv1d: f32 or f64 arguments"),
        };
        Ok((
            y,
            Shape::from((self.batch, self.out_len, self.out_channels)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        match x.dtype() {
            DType::F32 => self.grads::<f32>(x, w, b, grad),
            DType::F64 => self.grads::<f64>(x, w, b, grad),
            other => candle_core::bail!("fused conv1d: no backward for {other:?}"),
        }
    }
}
