//! FlashAttention-2's forward pass on slices: per block of queries, the
//! keys in tiles, with the running maximum and sum of each query row.

use std::sync::Mutex;

use seq_core::cpu::{gemm, Float, View};
use seq_core::threads::{run_jobs, Job};

use super::kernel::{scatter, Dims, Inputs, Strided, BLOCK_K, BLOCK_Q};

/// What the forward pass keeps for the backward one.
pub(crate) struct Forward<T> {
    /// The output, token-major `[batch, T, heads, dv]`.
    pub out: Vec<T>,
    /// Per query row, `[2, batch, heads, T]`: the running maximum `m` of
    /// the scores and the sum `l` of `exp(score - m)`. Kept apart, not as
    /// `m + ln(l)`: with every key masked `m` is about -1e30 and would
    /// swallow `ln(l)`.
    pub stats: Vec<T>,
}

/// What a forward job computed: its rows of the output and statistics.
struct Rows<T> {
    /// `(b H + h) T + i0`: the first row.
    at: usize,
    out: Vec<T>,
    m: Vec<T>,
    l: Vec<T>,
}

struct FwdJob<'a, T> {
    x: &'a Inputs<'a, T>,
    b: usize,
    h: usize,
    i0: usize,
    rows: usize,
    done: &'a Mutex<Vec<Rows<T>>>,
}

/// `softmax(Q K^T scale + mask) V` and the row log-sum-exps.
pub(crate) fn forward<T: Float>(x: &Inputs<T>) -> Forward<T> {
    let Dims { b, h, t, dv, .. } = x.dims;
    let done = Mutex::new(Vec::new());
    let mut jobs = Vec::new();
    for bi in 0..b {
        for hi in 0..h {
            for i0 in (0..t).step_by(BLOCK_Q) {
                jobs.push(FwdJob {
                    x,
                    b: bi,
                    h: hi,
                    i0,
                    rows: BLOCK_Q.min(t - i0),
                    done: &done,
                });
            }
        }
    }
    run_jobs::<T, _>(jobs);
    let mut out = vec![T::zero(); b * t * h * dv];
    let mut stats = vec![T::zero(); 2 * b * h * t];
    let o = Strided::token_major(t, h, dv);
    for Rows { at, out: acc, m, l } in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let (bh, i0) = (at / t, at % t);
        scatter(&mut out, o, (bh / h, bh % h, i0), &acc, dv);
        stats[at..at + m.len()].copy_from_slice(&m);
        let at = at + b * h * t;
        stats[at..at + l.len()].copy_from_slice(&l);
    }
    Forward { out, stats }
}

impl<T: Float> Job for FwdJob<'_, T> {
    #[inline(always)]
    fn run(self) {
        let FwdJob {
            x,
            b,
            h,
            i0,
            rows,
            done,
        } = self;
        let Dims { dv, .. } = x.dims;
        let mut m = vec![T::neg_infinity(); rows];
        let mut l = vec![T::zero(); rows];
        let mut acc = vec![T::zero(); rows * dv];
        let mut tile = vec![T::zero(); rows * BLOCK_K];
        let key_end = x.masking.key_end(&x.dims, i0 + rows - 1);
        for j0 in (0..key_end).step_by(BLOCK_K) {
            let cols = BLOCK_K.min(key_end - j0);
            let p = &mut tile[..rows * cols];
            x.scores(p, (b, h), (i0, rows), (j0, cols));
            for r in 0..rows {
                let row = &mut p[r * cols..(r + 1) * cols];
                let tile_max = seq_core::cpu::max(row);
                let m_new = num_traits::Float::max(m[r], tile_max);
                if m_new == T::neg_infinity() {
                    row.iter_mut().for_each(|v| *v = T::zero());
                    continue;
                }
                let alpha = T::exp_fast(m[r] - m_new);
                row.iter_mut().for_each(|v| *v = T::exp_fast(*v - m_new));
                let sum = seq_core::cpu::sum(row);
                l[r] = l[r] * alpha + sum;
                m[r] = m_new;
                acc[r * dv..(r + 1) * dv]
                    .iter_mut()
                    .for_each(|a| *a *= alpha);
            }
            x.masking.drop(p, &x.dims, (b, h), (i0, rows), (j0, cols));
            gemm(
                &mut acc,
                (0, dv, 1),
                View {
                    data: p,
                    at: 0,
                    rs: cols,
                    cs: 1,
                },
                x.v.1.matrix(x.v.0, b, h, j0),
                (rows, dv, cols),
                true,
            );
        }
        for r in 0..rows {
            let inv = T::one() / l[r];
            acc[r * dv..(r + 1) * dv].iter_mut().for_each(|a| *a *= inv);
        }
        let at = (b * x.dims.h + h) * x.dims.t + i0;
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Rows { at, out: acc, m, l });
    }
}
