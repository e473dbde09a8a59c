//! FlashAttention-2's backward pass on slices: per batch and head, the
//! probabilities recomputed tile by tile from the saved row maximum and
//! sum, and the gradients of queries, keys and values.

use std::sync::Mutex;

use seq_core::cpu::{gemm, Float, View};
use seq_core::threads::{run_jobs, Job};

use super::kernel::{scatter, Dims, Inputs, Strided, BLOCK_K, BLOCK_Q};

/// One head's gradients `dq` `[T, d]`, `dk` `[S, d]`, `dv` `[S, dv]`.
struct Grads<T> {
    pub dq: Vec<T>,
    pub dk: Vec<T>,
    pub dv: Vec<T>,
}

struct BwdJob<'a, T> {
    x: &'a Inputs<'a, T>,
    b: usize,
    h: usize,
    /// The output and its gradient.
    o: (&'a [T], Strided),
    d_o: (&'a [T], Strided),
    stats: &'a [T],
    done: &'a Mutex<Vec<(usize, Grads<T>)>>,
}

/// The backward pass of [`forward`](super::forward::forward), given the
/// output `o`, its gradient `d_o` and the saved row statistics: the
/// gradients of queries, keys and values written into `dst` where the
/// layouts `at` (width stride 1) put them.
pub(crate) fn backward<T: Float>(
    x: &Inputs<T>,
    o: (&[T], Strided),
    d_o: (&[T], Strided),
    stats: &[T],
    (dst, at): (&mut [T], [Strided; 3]),
) {
    let Dims { b, h, d, dv, .. } = x.dims;
    let done = Mutex::new(Vec::new());
    let jobs = (0..b * h)
        .map(|bh| BwdJob {
            x,
            b: bh / h,
            h: bh % h,
            o,
            d_o,
            stats,
            done: &done,
        })
        .collect();
    run_jobs::<T, _>(jobs);
    let [aq, ak, av] = at;
    for (bh, g) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let head = (bh / h, bh % h, 0);
        scatter(dst, aq, head, &g.dq, d);
        scatter(dst, ak, head, &g.dk, d);
        scatter(dst, av, head, &g.dv, dv);
    }
}

impl<T: Float> Job for BwdJob<'_, T> {
    #[inline(always)]
    fn run(self) {
        let BwdJob {
            x,
            b,
            h,
            o,
            d_o,
            stats,
            done,
        } = self;
        let Dims { t, s, d, dv, .. } = x.dims;
        let rows_at = (b * x.dims.h + h) * t;
        let m = &stats[rows_at..][..t];
        let inv_l: Vec<T> = stats[x.dims.b * x.dims.h * t + rows_at..][..t]
            .iter()
            .map(|&l| T::one() / l)
            .collect();
        // D_i = dO_i . O_i: the softmax's row term, dropout included.
        let delta: Vec<T> = (0..t)
            .map(|i| {
                (0..dv).fold(T::zero(), |a, c| {
                    a + d_o.0[d_o.1.index(b, h, i, c)] * o.0[o.1.index(b, h, i, c)]
                })
            })
            .collect();
        let mut dq = vec![T::zero(); t * d];
        let mut dk = vec![T::zero(); s * d];
        let mut dvv = vec![T::zero(); s * dv];
        // On the heap: three f64 tiles are 384 KiB, too much for the stack
        // of a pool thread.
        let tile = BLOCK_Q * BLOCK_K;
        let mut buffers = vec![T::zero(); 3 * tile];
        let (p, rest) = buffers.split_at_mut(tile);
        let (pd, dp) = rest.split_at_mut(tile);
        let first_query = |j0: usize| match x.masking.causal {
            Some(offset) => j0.saturating_sub(offset) / BLOCK_Q * BLOCK_Q,
            None => 0,
        };
        for j0 in (0..s).step_by(BLOCK_K) {
            let cols = BLOCK_K.min(s - j0);
            for i0 in (first_query(j0)..t).step_by(BLOCK_Q) {
                let rows = BLOCK_Q.min(t - i0);
                if x.masking.key_end(&x.dims, i0 + rows - 1) <= j0 {
                    continue;
                }
                let n = rows * cols;
                let (p, pd, dp) = (&mut p[..n], &mut pd[..n], &mut dp[..n]);
                // P = exp(S - m) / l, recomputed.
                x.scores(p, (b, h), (i0, rows), (j0, cols));
                for r in 0..rows {
                    let (mr, il) = (m[i0 + r], inv_l[i0 + r]);
                    p[r * cols..(r + 1) * cols]
                        .iter_mut()
                        .for_each(|v| *v = T::exp_fast(*v - mr) * il);
                }
                // Pd: P through the dropout mask (P itself without dropout).
                let pd: &[T] = match x.masking.dropout {
                    Some(_) => {
                        pd.copy_from_slice(p);
                        x.masking.drop(pd, &x.dims, (b, h), (i0, rows), (j0, cols));
                        pd
                    }
                    None => p,
                };
                // dV_j += Pd^T dO_i
                gemm(
                    &mut dvv,
                    (j0 * dv, dv, 1),
                    View {
                        data: pd,
                        at: 0,
                        rs: 1,
                        cs: cols,
                    },
                    d_o.1.matrix(d_o.0, b, h, i0),
                    (cols, dv, rows),
                    true,
                );
                // dPd = dO_i V_j^T, then through the dropout mask.
                gemm(
                    dp,
                    (0, cols, 1),
                    d_o.1.matrix(d_o.0, b, h, i0),
                    x.v.1.matrix_t(x.v.0, b, h, j0),
                    (rows, cols, dv),
                    false,
                );
                x.masking.drop(dp, &x.dims, (b, h), (i0, rows), (j0, cols));
                // dS = P (dP - D) scale
                for r in 0..rows {
                    let di = delta[i0 + r];
                    let (pr, dr) = (
                        &p[r * cols..(r + 1) * cols],
                        &mut dp[r * cols..(r + 1) * cols],
                    );
                    for (g, &pv) in dr.iter_mut().zip(pr) {
                        *g = pv * (*g - di) * x.masking.scale;
                    }
                }
                // dQ_i += dS K_j;  dK_j += dS^T Q_i
                gemm(
                    &mut dq,
                    (i0 * d, d, 1),
                    View {
                        data: dp,
                        at: 0,
                        rs: cols,
                        cs: 1,
                    },
                    x.k.1.matrix(x.k.0, b, h, j0),
                    (rows, d, cols),
                    true,
                );
                gemm(
                    &mut dk,
                    (j0 * d, d, 1),
                    View {
                        data: dp,
                        at: 0,
                        rs: 1,
                        cs: cols,
                    },
                    x.q.1.matrix(x.q.0, b, h, i0),
                    (cols, d, rows),
                    true,
                );
            }
        }
        let bh = b * x.dims.h + h;
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((bh, Grads { dq, dk, dv: dvv }));
    }
}
