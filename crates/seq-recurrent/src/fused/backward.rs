//! The backward pass through time: each block of sequences back through
//! all the steps, with its shares of the weight gradients (one per fixed
//! run of sequences, whatever the number of threads); the shares are then
//! added in order, so the gradients have the same bits on any core count.

use super::cells::{backward_row, Kind, RowGrads};
use super::gemm::{matmul, matmul_strided, Mat};
use super::kernel::Packed;
use super::math::Real;
use super::scratch::buffer;
use super::{Aux, Dims};
use seq_core::threads::{run_jobs, Job};

/// The op's arguments, its result (the states) and their gradient, the
/// final `c`'s gradient (LSTM; empty when it has none) and the gates
/// forward saved.
pub(super) struct Args<'a, T> {
    pub x: &'a [T],
    pub w_ih: &'a [T],
    pub aux: &'a [T],
    pub hs: &'a [T],
    pub dhs: &'a [T],
    pub dc_last: &'a [T],
    pub saved: &'a [T],
}

/// The gradients of the op's arguments (`dx` only when asked for); the
/// mask's part of `daux` is zero.
pub(super) struct Grads<T> {
    pub dx: Option<Vec<T>>,
    pub dw_ih: Vec<T>,
    pub daux: Vec<T>,
}

/// The weight gradients, laid out as `[dW_ih dW_hh]` `[G*H, I + H]`,
/// `db_ih`, `db_hh` `[G*H]`: one block's share, or their sum.
fn weights_len(d: &Dims) -> usize {
    d.width() * (d.input + d.hidden + 2)
}

/// The gradients of the op's arguments from those of its results.
pub(super) fn backward<T: Real>(d: &Dims, a: Args<T>, want_dx: bool) -> Grads<T> {
    let (b, t, h, w, i) = (d.batch, d.time, d.hidden, d.width(), d.input);
    let aux = d.unpack(a.aux);
    let w_hh = Packed::new(aux.w_hh, (w, h), false); // W_hh [G*H, H]
    let w_ih = Packed::new(a.w_ih, (w, i), false); // W_ih [G*H, I]
    let (share_rows, blocks) = d.blocks();
    let mut shares = vec![T::zero(); b.div_ceil(share_rows).max(1) * weights_len(d)];
    let mut dh0 = vec![T::zero(); b * h];
    let mut dc0 = vec![T::zero(); aux.c0.len()];
    let mut dx = vec![T::zero(); if want_dx { b * t * i } else { 0 }];
    let (hs, dhs, dc_last) = (a.hs, a.dhs, a.dc_last);
    let saved_row = t * d.kind.saved() * h;

    let mut jobs = Vec::new();
    let mut rest = (&mut shares[..], &mut dh0[..], &mut dc0[..], &mut dx[..]);
    for r in blocks {
        let n = r.len();
        let (share, s) = rest
            .0
            .split_at_mut(n.div_ceil(share_rows).max(1) * weights_len(d));
        let (dh0, h0) = rest.1.split_at_mut(n * h);
        let (dc0, c0) = rest.2.split_at_mut(if d.kind.has_c() { n * h } else { 0 });
        let (dx, x) = rest.3.split_at_mut(if want_dx { n * t * i } else { 0 });
        rest = (s, h0, c0, x);
        jobs.push(Block {
            d: d.rows(&r),
            aux: aux.rows(&r, d),
            x: &a.x[r.start * t * i..r.end * t * i],
            w_ih: &w_ih,
            w_hh: &w_hh,
            hs: &hs[r.start * t * h..r.end * t * h],
            dhs: &dhs[r.start * t * h..r.end * t * h],
            dc_last: dc_last.get(r.start * h..r.end * h).unwrap_or(&[]),
            saved: &a.saved[r.start * saved_row..r.end * saved_row],
            share_rows,
            out: BlockGrads {
                share,
                dh0,
                dc0,
                dx,
            },
        });
    }
    run_jobs::<T, _>(jobs);

    // The sum of the blocks' shares, in block order.
    let mut sum = shares.chunks(weights_len(d));
    let mut weights = sum.next().map(<[T]>::to_vec).unwrap_or_default();
    for share in sum {
        weights.iter_mut().zip(share).for_each(|(s, v)| *s += *v);
    }
    let (dw, db) = weights.split_at(w * (i + h));
    let dw_ih = dw
        .chunks(i + h)
        .flat_map(|row| &row[..i])
        .copied()
        .collect();
    let mut daux: Vec<T> = dw
        .chunks(i + h)
        .flat_map(|row| &row[i..])
        .copied()
        .collect();
    daux.extend_from_slice(db); // db_ih, db_hh
    daux.extend_from_slice(&dh0);
    daux.extend_from_slice(&dc0);
    daux.resize(d.aux_len(), T::zero()); // the mask gets no gradient
    Grads {
        dx: want_dx.then_some(dx),
        dw_ih,
        daux,
    }
}

/// What one block writes: its shares of the weight gradients, and its rows
/// of dL/dh0, dL/dc0 `[n, H]` and dL/dx `[n, T, I]` (when asked for).
struct BlockGrads<'a, T> {
    share: &'a mut [T],
    dh0: &'a mut [T],
    dc0: &'a mut [T],
    dx: &'a mut [T],
}

/// One block of sequences.
struct Block<'a, T> {
    d: Dims,
    aux: Aux<'a, T>,
    x: &'a [T],
    w_ih: &'a Packed<T>,
    w_hh: &'a Packed<T>,
    /// The states `[n, T, H]`, their gradient, the final c's gradient `[n, H]`.
    hs: &'a [T],
    dhs: &'a [T],
    dc_last: &'a [T],
    saved: &'a [T],
    /// Sequences per share of the weight gradients.
    share_rows: usize,
    out: BlockGrads<'a, T>,
}

impl<T: Real> Job for Block<'_, T> {
    #[inline(always)]
    fn run(self) {
        if self.d.batch == 0 {
            return; // an empty batch: its gradients stay zero
        }
        let Block {
            d,
            aux,
            x,
            w_ih,
            w_hh,
            hs,
            dhs,
            dc_last,
            saved,
            share_rows,
            out,
        } = self;
        let (n, t_len, h, w, i) = (d.batch, d.time, d.hidden, d.width(), d.input);
        let (s, has_c, gru) = (d.kind.saved() * h, d.kind.has_c(), d.kind == Kind::Gru);
        // dL/d(gi), and for the GRU dL/d(gh) (else equal)   [n, T, G*H]
        let mut dgi = buffer::<T>(n * t_len * w);
        let mut dgh = buffer::<T>(if gru { n * t_len * w } else { 0 });
        // [x h_{t-1}] of every step   [n, T, I + H]  (x only when one
        // product gives both weights' gradients: not for the GRU)
        let xh_w = i + h;
        let mut xh = buffer::<T>(n * t_len * xh_w);
        if !gru {
            for (row, x) in xh.chunks_mut(xh_w).zip(x.chunks(i.max(1))) {
                row[..i].copy_from_slice(&x[..i]);
            }
        }
        // dL/dh and dL/dc carried back from later steps; dL/dc starts at the
        // final c's gradient.
        let (dh, dc) = (out.dh0, out.dc0);
        match dc_last.is_empty() {
            true => dc.fill(T::zero()),
            false => dc.copy_from_slice(dc_last),
        }
        let order = d.order();
        for (idx, &t) in order.iter().enumerate().rev() {
            let prev = idx.checked_sub(1).map(|i| order[i]);
            for r in 0..n {
                let at = r * t_len + t;
                let (hp, cp) = match prev {
                    Some(p) => (
                        &hs[(r * t_len + p) * h..][..h],
                        &saved[(r * t_len + p) * s..][..h * usize::from(has_c)],
                    ),
                    None => (
                        &aux.h0[r * h..][..h],
                        aux.c0.get(r * h..(r + 1) * h).unwrap_or(&[]),
                    ),
                };
                xh[at * xh_w + i..][..h].copy_from_slice(hp);
                let dh_r = &mut dh[r * h..][..h];
                dh_r.iter_mut()
                    .zip(&dhs[at * h..][..h])
                    .for_each(|(a, b)| *a += *b);
                let grads = RowGrads {
                    dh: dh_r,
                    dc: dc.get_mut(r * h..(r + 1) * h).unwrap_or(&mut []),
                    dgi: &mut dgi[at * w..][..w],
                    dgh: dgh.get_mut(at * w..(at + 1) * w).unwrap_or(&mut []),
                };
                backward_row(
                    d.kind,
                    &hs[at * h..][..h],
                    &saved[at * s..][..s],
                    hp,
                    cp,
                    aux.mask[at],
                    grads,
                );
            }
            // dL/dh_{t-1} = direct part + dg_t W_hh   [n, H]
            let dg: &[T] = if gru { &dgh } else { &dgi };
            w_hh.mul_add(dh, &dg[t * w..], t_len * w, n);
        }
        if !out.dx.is_empty() {
            w_ih.mul_add(out.dx, &dgi, w, n * t_len); // dL/dx = dgi W_ih   [n*T, I]
        }
        // This block's shares of the sums over sequences and steps, one per
        // `share_rows` sequences.
        let shares = out.share.chunks_mut(weights_len(&d));
        for (k, share) in shares.enumerate().take(n.div_ceil(share_rows)) {
            let seqs = k * share_rows..((k + 1) * share_rows).min(n);
            let rows = seqs.len() * t_len;
            let (g, r) = (seqs.start * t_len, seqs.end * t_len); // its steps
            let (dgi, xh) = (&dgi[g * w..r * w], &xh[g * xh_w..r * xh_w]);
            let (dw, rest) = share.split_at_mut(w * xh_w);
            let (db_ih, db_hh) = rest.split_at_mut(w);
            if gru {
                // dgi^T x and dgh^T h_{t-1}, side by side
                let (x, dgh) = (&x[g * i..r * i], &dgh[g * w..r * w]);
                matmul_strided(dw, xh_w, Mat::t(dgi), Mat::new(x), (w, i, rows), false);
                let h_prev = Mat::strided(&xh[i..], xh_w);
                matmul_strided(&mut dw[i..], xh_w, Mat::t(dgh), h_prev, (w, h, rows), false);
                column_sums(db_hh, dgh);
            } else {
                matmul(dw, Mat::t(dgi), Mat::new(xh), (w, xh_w, rows), false); // dgi^T [x h_{t-1}]
                column_sums(db_hh, dgi);
            }
            column_sums(db_ih, dgi);
        }
    }
}

/// `sums[j] = sum over rows of m[row, j]`, `m` `[rows, sums.len()]`.
#[inline(always)]
fn column_sums<T: Real>(sums: &mut [T], m: &[T]) {
    sums.fill(T::zero());
    for row in m.chunks_exact(sums.len().max(1)) {
        sums.iter_mut().zip(row).for_each(|(s, v)| *s += *v);
    }
}
