//! The forward pass: each block of sequences through all the steps.

use super::cells::forward_row;
#[cfg(target_arch = "x86_64")]
use super::cells::Kind;
use super::kernel::Packed;
#[cfg(target_arch = "x86_64")]
use super::lstm_avx512;
use super::math::Real;
#[cfg(target_arch = "x86_64")]
use super::math::{as_f32, as_f32_mut};
use super::scratch::{buffer, Buffer};
use super::{Aux, Dims};
use seq_core::cpu::fill_rows;
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
    let products = Products::new(d, w_ih, &aux);
    let saved_row = if save { t * d.kind.saved() * h } else { 0 };
    // The states are written by the jobs, each zero-filling its part first
    // (in parallel, rather than here on one thread).
    let len = d.batch * t * h;
    let mut out = Vec::with_capacity(len);
    let mut c_last = vec![T::zero(); if d.kind.has_c() { d.batch * h } else { 0 }];
    let mut saved = buffer(d.batch * saved_row);
    let mut jobs = Vec::new();
    let (mut hs_rest, mut cs_rest, mut saved_rest) = (
        &mut out.spare_capacity_mut()[..len],
        &mut c_last[..],
        &mut saved[..],
    );
    for r in d.blocks().1 {
        let (hs, rest_h) = std::mem::take(&mut hs_rest).split_at_mut(r.len() * t * h);
        let (cs, rest_c) = cs_rest.split_at_mut(r.len() * h * usize::from(d.kind.has_c()));
        let (s, rest_s) = saved_rest.split_at_mut(r.len() * saved_row);
        (hs_rest, cs_rest, saved_rest) = (rest_h, rest_c, rest_s);
        jobs.push(Block {
            d: d.rows(&r),
            x: &x[r.start * t * d.input..r.end * t * d.input],
            products: &products,
            aux: aux.rows(&r, d),
            hs,
            c_last: cs,
            saved: s,
        });
    }
    run_jobs::<T, _>(jobs);
    // SAFETY: the blocks' parts cover the first `len` elements of the
    // capacity, and each job wrote its whole part (`fill_rows`) first.
    unsafe { out.set_len(len) };
    (out, c_last, saved)
}

/// The weights as a step's products read them.
enum Products<T> {
    /// `W_ih^T` `[I, G*H]` and `W_hh^T` `[H, G*H]`, each step's two products
    /// into their own rows.
    Packed {
        w_ih_t: Packed<T>,
        w_hh_t: Packed<T>,
    },
    /// An f32 LSTM on a CPU with AVX-512F: the whole step in
    /// [`lstm_avx512`].
    #[cfg(target_arch = "x86_64")]
    Lstm512(lstm_avx512::Weights),
}

impl<T: Real> Products<T> {
    fn new(d: &Dims, w_ih: &[T], aux: &Aux<T>) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = lstm512(d, w_ih, aux) {
            return Products::Lstm512(w);
        }
        Products::Packed {
            w_ih_t: Packed::new(w_ih, (d.width(), d.input), true),
            w_hh_t: Packed::new(aux.w_hh, (d.width(), d.hidden), true),
        }
    }
}

/// The AVX-512 LSTM's weights, for an f32 LSTM on a CPU with AVX-512F.
#[cfg(target_arch = "x86_64")]
fn lstm512<T: Real>(d: &Dims, w_ih: &[T], aux: &Aux<T>) -> Option<lstm_avx512::Weights> {
    if d.kind != Kind::Lstm {
        return None;
    }
    let (w_hh, b_ih, b_hh) = (as_f32(aux.w_hh)?, as_f32(aux.b_ih)?, as_f32(aux.b_hh)?);
    lstm_avx512::Weights::new(as_f32(w_ih)?, w_hh, b_ih, b_hh, (d.input, d.hidden))
}

/// The f32 slices of a block's arguments and results, when `T` is f32.
#[cfg(target_arch = "x86_64")]
fn f32_block<'a, T: Real>(
    x: &'a [T],
    aux: &Aux<'a, T>,
    states: &'a mut [T],
    c_last: &'a mut [T],
    saved: &'a mut [T],
) -> Option<lstm_avx512::Block<'a>> {
    Some(lstm_avx512::Block {
        x: as_f32(x)?,
        h0: as_f32(aux.h0)?,
        c0: as_f32(aux.c0)?,
        mask: as_f32(aux.mask)?,
        states: as_f32_mut(states)?,
        c_last: as_f32_mut(c_last)?,
        saved: as_f32_mut(saved)?,
    })
}

/// The sequences of one block: their inputs, whole weights, and their
/// parts of the result (states `[n, T, H]`, final `c` `[n, H]`) and of the
/// saved gates (empty when not saving).
struct Block<'a, T> {
    d: Dims,
    x: &'a [T],
    products: &'a Products<T>,
    aux: Aux<'a, T>,
    /// Uninitialised until the job zero-fills it.
    hs: &'a mut [std::mem::MaybeUninit<T>],
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
            products,
            aux,
            hs,
            c_last,
            saved,
        } = self;
        let states = fill_rows(hs, &vec![T::zero(); d.hidden]);
        let (w_ih_t, w_hh_t) = match products {
            Products::Packed { w_ih_t, w_hh_t } => (w_ih_t, w_hh_t),
            #[cfg(target_arch = "x86_64")]
            Products::Lstm512(w) => {
                let block = f32_block(x, &aux, states, c_last, saved);
                // `Lstm512` is built for f32 only, so the block converts.
                if let Some(block) = block {
                    lstm_avx512::run(w, block, &d.order());
                }
                return;
            }
        };
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
