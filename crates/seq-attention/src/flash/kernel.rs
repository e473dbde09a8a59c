//! The tiled attention kernels on slices: FlashAttention-2's forward
//! (running maximum and sum per query row, the `T x S` scores never held
//! whole) and its backward (scores recomputed tile by tile from the saved
//! maximum and sum).
//!
//! Every tensor is a [`Strided`] view `[batch, heads, length, width]` into
//! a slice, so packed projections and token-major layouts are read where
//! they lie. Work is split into jobs that own what they write: forward by
//! `(batch, head, block of queries)`, backward by `(batch, head)`. Each job
//! runs alone on one thread with a fixed order of summation, so results do
//! not depend on the number of threads.

use std::sync::Mutex;

use seq_core::cpu::{gemm, Float, View};
use seq_core::threads::{run_jobs, Job};

/// Queries per tile.
pub(crate) const BLOCK_Q: usize = 64;
/// Keys per tile.
pub(crate) const BLOCK_K: usize = 64;

/// A `[batch, heads, length, width]` tensor in a slice: element
/// `(b, h, l, w)` at `at + b sb + h sh + l sl + w sw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Strided {
    pub at: usize,
    pub sb: usize,
    pub sh: usize,
    pub sl: usize,
    pub sw: usize,
}

impl Strided {
    /// Row-major `[batch, length, heads, width]`: a token-major tensor
    /// `[batch, length, heads * width]` seen by heads.
    pub fn token_major(length: usize, heads: usize, width: usize) -> Self {
        Strided {
            at: 0,
            sb: length * heads * width,
            sh: width,
            sl: heads * width,
            sw: 1,
        }
    }

    /// The matrix `[length, width]` of batch `b`, head `h`, from row `l0`.
    fn matrix<'a, T>(&self, data: &'a [T], b: usize, h: usize, l0: usize) -> View<'a, T> {
        View {
            data,
            at: self.at + b * self.sb + h * self.sh + l0 * self.sl,
            rs: self.sl,
            cs: self.sw,
        }
    }

    /// Its transpose `[width, length]`.
    fn matrix_t<'a, T>(&self, data: &'a [T], b: usize, h: usize, l0: usize) -> View<'a, T> {
        let m = self.matrix(data, b, h, l0);
        View {
            rs: m.cs,
            cs: m.rs,
            ..m
        }
    }

    fn index(&self, b: usize, h: usize, l: usize, w: usize) -> usize {
        self.at + b * self.sb + h * self.sh + l * self.sl + w * self.sw
    }
}

/// The sizes: `b` batch, `h` heads, `t` queries, `s` keys, `d` query/key
/// width, `dv` value width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub b: usize,
    pub h: usize,
    pub t: usize,
    pub s: usize,
    pub d: usize,
    pub dv: usize,
}

/// Dropout on the attention weights, as a hash of the position: the keep
/// decision for `(b, h, i, j)` is recomputed in backward, never stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DropMask {
    /// Probability of keeping a weight.
    pub keep: f64,
    /// The stream: the layer's seed and the training step.
    pub key: u64,
}

impl DropMask {
    /// Whether weight `index` (`((b * H + h) * T + i) * S + j`) is kept.
    #[inline(always)]
    pub fn kept(&self, index: u64) -> bool {
        seq_core::rng::hash_keep(self.key, index, self.keep)
    }
}

/// What changes a score before the softmax, with the composed path's
/// arithmetic: a masked key gets `neg` added (a large negative number, not
/// minus infinity), so a row whose keys are all masked is uniform there too.
pub(crate) struct Masking<'a, T> {
    /// `1 / sqrt(d)` or the caller's scale.
    pub scale: T,
    /// The masked score added (`-1e30`).
    pub neg: T,
    /// Causal with this offset: query `i` sees keys `j <= i + offset`.
    pub causal: Option<usize>,
    /// `[batch, S]`, 0 for a padded key.
    pub keys: Option<&'a [u8]>,
    /// An additive bias `[batch or 1, heads or 1, T, S]` (zero strides broadcast).
    pub bias: Option<(&'a [T], Strided)>,
    pub dropout: Option<DropMask>,
}

impl<T: Float> Masking<'_, T> {
    /// The last key tile row `i_last` reaches (exclusive end of keys).
    fn key_end(&self, dims: &Dims, i_last: usize) -> usize {
        match self.causal {
            Some(offset) => (i_last + offset + 1).min(dims.s),
            None => dims.s,
        }
    }

    /// Turns the raw products of a `[rows, cols]` tile (queries from `i0`,
    /// keys from `j0`) into scores, in place.
    #[inline(always)]
    fn scores(
        &self,
        tile: &mut [T],
        s: usize,
        (b, h): (usize, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        for r in 0..rows {
            let row = &mut tile[r * cols..(r + 1) * cols];
            row.iter_mut().for_each(|x| *x *= self.scale);
            if let Some((bias, at)) = self.bias {
                for (c, x) in row.iter_mut().enumerate() {
                    *x += bias[at.index(b, h, i0 + r, j0 + c)];
                }
            }
            if let Some(keys) = self.keys {
                let at = b * s + j0;
                for (x, &k) in row.iter_mut().zip(&keys[at..at + cols]) {
                    if k == 0 {
                        *x += self.neg;
                    }
                }
            }
            if let Some(offset) = self.causal {
                let first_masked = (i0 + r + offset + 1).saturating_sub(j0);
                for x in row.iter_mut().skip(first_masked) {
                    *x += self.neg;
                }
            }
        }
    }

    /// Multiplies `p` `[rows, cols]` by the dropout mask over `1 - p`.
    #[inline(always)]
    fn drop(
        &self,
        p: &mut [T],
        dims: &Dims,
        (b, h): (usize, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        let Some(mask) = self.dropout else { return };
        let inv = T::of(1.0 / mask.keep);
        for r in 0..rows {
            let base = (((b * dims.h + h) * dims.t + i0 + r) * dims.s + j0) as u64;
            for (c, x) in p[r * cols..(r + 1) * cols].iter_mut().enumerate() {
                *x = if mask.kept(base + c as u64) {
                    *x * inv
                } else {
                    T::zero()
                };
            }
        }
    }
}

/// The inputs of one attention call.
pub(crate) struct Inputs<'a, T> {
    pub dims: Dims,
    pub q: (&'a [T], Strided),
    pub k: (&'a [T], Strided),
    pub v: (&'a [T], Strided),
    pub masking: Masking<'a, T>,
}

impl<T: Float> Inputs<'_, T> {
    /// The scores `Q_i K_j^T scale + mask` of the tile of queries `i0..`
    /// and keys `j0..` into `p` `[rows, cols]`.
    #[inline(always)]
    fn scores(
        &self,
        p: &mut [T],
        (b, h): (usize, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        gemm(
            p,
            (0, cols, 1),
            self.q.1.matrix(self.q.0, b, h, i0),
            self.k.1.matrix_t(self.k.0, b, h, j0),
            (rows, cols, self.dims.d),
            false,
        );
        self.masking
            .scores(p, self.dims.s, (b, h), (i0, rows), (j0, cols));
    }
}

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
        let (bi, hi) = (bh / h, bh % h);
        for (r, row) in acc.chunks(dv).enumerate() {
            let start = o.index(bi, hi, i0 + r, 0);
            out[start..start + dv].copy_from_slice(row);
        }
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

/// The gradients `dq`, `dk`, `dv`, each token-major `[batch, L, heads, width]`.
pub(crate) struct Grads<T> {
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

/// The backward pass of [`forward`], given the output `o`, its gradient
/// `d_o` and the saved row statistics.
pub(crate) fn backward<T: Float>(
    x: &Inputs<T>,
    o: (&[T], Strided),
    d_o: (&[T], Strided),
    stats: &[T],
) -> Grads<T> {
    let Dims { b, h, t, s, d, dv } = x.dims;
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
    let mut g = Grads {
        dq: vec![T::zero(); b * t * h * d],
        dk: vec![T::zero(); b * s * h * d],
        dv: vec![T::zero(); b * s * h * dv],
    };
    for (bh, part) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let (bi, hi) = (bh / h, bh % h);
        for (dst, src, len, width) in [
            (&mut g.dq, &part.dq, t, d),
            (&mut g.dk, &part.dk, s, d),
            (&mut g.dv, &part.dv, s, dv),
        ] {
            let layout = Strided::token_major(len, h, width);
            for (l, row) in src.chunks(width).enumerate() {
                let start = layout.index(bi, hi, l, 0);
                dst[start..start + width].copy_from_slice(row);
            }
        }
    }
    g
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
        let mut p = [T::zero(); BLOCK_Q * BLOCK_K];
        let mut pd = [T::zero(); BLOCK_Q * BLOCK_K];
        let mut dp = [T::zero(); BLOCK_Q * BLOCK_K];
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
                pd.copy_from_slice(p);
                x.masking.drop(pd, &x.dims, (b, h), (i0, rows), (j0, cols));
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
