//! The forward pass: each block of sequences through all the steps.

use super::cells::forward_row;
use super::kernel::Packed;
use super::math::Real;
use super::scratch::{buffer, Buffer};
use super::{Aux, Dims};
use seq_core::threads::{run_jobs, Job};

/// Every step's state `[B, T, H]`, the final `c` `[B, H]` (LSTM; else
/// empty) and, when `save`, the gates for the backward pass
/// `[B, T, saved * H]` (else an empty buffer: inference writes them to a
/// row's worth of scratch that stays in cache).
pub(super) fn forward<T: Real>(
    d: &Dims,
    x: &[T],
    w_ih: &[T],
    aux: &[T],
    save: bool,
) -> (Vec<T>, Vec<T>, Buffer<T>) {
    let (h, t) = (d.hidden, d.time);
    let aux = d.unpack(aux);
    let w_hh_t = Packed::new(aux.w_hh, (d.width(), h), true); // W_hh^T [H, G*H]
    let w_ih_t = Packed::new(w_ih, (d.width(), d.input), true); // W_ih^T [I, G*H]
    let saved_row = if save { t * d.kind.saved() * h } else { 0 };
    let mut out = vec![T::zero(); d.batch * t * h];
    let mut c_last = vec![T::zero(); if d.kind.has_c() { d.batch * h } else { 0 }];
    let mut saved = buffer(d.batch * saved_row);
    let mut jobs = Vec::new();
    let (mut hs_rest, mut cs_rest, mut saved_rest) =
        (&mut out[..], &mut c_last[..], &mut saved[..]);
    for r in d.blocks().1 {
        let (hs, rest_h) = hs_rest.split_at_mut(r.len() * t * h);
        let (cs, rest_c) = cs_rest.split_at_mut(r.len() * h * usize::from(d.kind.has_c()));
        let (s, rest_s) = saved_rest.split_at_mut(r.len() * saved_row);
        (hs_rest, cs_rest, saved_rest) = (rest_h, rest_c, rest_s);
        jobs.push(Block {
            d: d.rows(&r),
            x: &x[r.start * t * d.input..r.end * t * d.input],
            w_ih_t: &w_ih_t,
            aux: aux.rows(&r, d),
            w_hh_t: &w_hh_t,
            hs,
            c_last: cs,
            saved: s,
        });
    }
    run_jobs::<T, _>(jobs);
    (out, c_last, saved)
}

/// The sequences of one block: their inputs, whole weights, and their
/// parts of the result (states `[n, T, H]`, final `c` `[n, H]`) and of the
/// saved gates (empty when not saving).
struct Block<'a, T> {
    d: Dims,
    x: &'a [T],
    w_ih_t: &'a Packed<T>,
    aux: Aux<'a, T>,
    w_hh_t: &'a Packed<T>,
    hs: &'a mut [T],
    c_last: &'a mut [T],
    saved: &'a mut [T],
}

impl<T: Real> Job for Block<'_, T> {
    #[inline(always)]
    fn run(self) {
        if self.d.batch == 0 {
            return; // an empty batch: nothing to compute
        }
        let Block {
            d,
            x,
            w_ih_t,
            aux,
            w_hh_t,
            hs: states,
            c_last,
            saved,
        } = self;
        let (n, t_len, h, w) = (d.batch, d.time, d.hidden, d.width());
        let s = d.kind.saved() * h;
        // This step's input and hidden products, kept in cache   [n, G*H]
        let mut gi = vec![T::zero(); n * w];
        let mut gh = vec![T::zero(); n * w];
        let mut h_prev = aux.h0.to_vec(); // [n, H]
        let mut c_prev = match d.kind.has_c() {
            true => aux.c0.to_vec(),
            false => Vec::new(),
        };
        // Where a row's gates go when they are not saved.
        let mut unsaved = vec![T::zero(); if saved.is_empty() { s } else { 0 }];
        for t in d.order() {
            // gi = x_t W_ih^T + b_ih: rows of x `T*I` apart   [n, G*H]
            gi.chunks_mut(w)
                .for_each(|row| row.copy_from_slice(aux.b_ih));
            w_ih_t.mul_add(&mut gi, &x[t * d.input..], t_len * d.input, n);
            // gh = h_{t-1} W_hh^T + b_hh   [n, G*H]
            gh.chunks_mut(w)
                .for_each(|row| row.copy_from_slice(aux.b_hh));
            w_hh_t.mul_add(&mut gh, &h_prev, h, n);
            for r in 0..n {
                let at = r * t_len + t;
                let hs = &mut states[at * h..][..h];
                let sv = match unsaved.is_empty() {
                    true => &mut saved[at * s..][..s],
                    false => &mut unsaved[..],
                };
                let cp = c_prev.get(r * h..(r + 1) * h).unwrap_or(&[]);
                let hp = &h_prev[r * h..(r + 1) * h];
                forward_row(
                    d.kind,
                    &gi[r * w..][..w],
                    &gh[r * w..][..w],
                    hp,
                    cp,
                    aux.mask[at],
                    hs,
                    sv,
                );
                h_prev[r * h..(r + 1) * h].copy_from_slice(hs);
                if d.kind.has_c() {
                    c_prev[r * h..(r + 1) * h].copy_from_slice(&sv[..h]);
                }
            }
        }
        c_last.copy_from_slice(&c_prev);
    }
}
