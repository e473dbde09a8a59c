//! The LSTM's forward pass in AVX-512 (f32), for CPUs that have it.
//!
//! A step is two passes over a block of sequences:
//!
//! 1. *Products*: for 16 hidden units of 4 sequences at a time, the four
//!    gates' pre-activations `b_ih + b_hh + x_t W_ih^T + h_{t-1} W_hh^T`
//!    are summed in 16 registers, starting from the bias, the input rows
//!    and then the hidden rows of one packed panel (the unit block's
//!    weights, `[I + H, 4 * 16]`). Nothing is copied per step: `x_t` and
//!    `h_{t-1}` are read in place from the input and the states.
//! 2. *Cell*: 16 units at a time, the gates and `c`, `h` from the
//!    pre-activations, every value in registers (`exp` as in
//!    [`super::lstm_avx2`], its `2^n` by `vscalefps`).
//!
//! Against the general path (the AVX2 product per gate matrix into two
//! buffers, then the AVX2 cell) this does the same arithmetic with half
//! the instructions and no copies of biases or states: the bench's LSTM
//! forward (`[32, 100, 64] -> 128`, two threads, 2-core AMD EPYC) took
//! 3.35-3.60 ms against 4.02-4.64 ms (medians of 300 passes, the two
//! builds alternating). [`run`] is checked against the f64 recurrence in
//! the test below; [`Weights::new`] returns `None` on a CPU without
//! AVX-512F, and the caller takes the general path.

use std::arch::x86_64::*;

use seq_core::cpu::{EXP_LN2, EXP_MAX, EXP_MIN, EXP_POLY};

use seq_core::panel::{tile, Panels};

/// Hidden units per vector.
const U: usize = 16;
/// Sequences per register tile: 4 x 4 accumulators.
const R: usize = 4;

/// `W_ih`, `W_hh` and the two biases, laid out for [`run`]. Having one
/// proves the CPU has AVX-512F.
pub(super) struct Weights {
    input: usize,
    hidden: usize,
    /// `[W_ih W_hh]^T` `[I + H, 4 * padded]` (`padded`: `H` rounded up to
    /// a whole vector), in blocks of 64 columns: the
    /// gates `i, f, g, o` of 16 units each (zero past `H`).
    panels: Panels,
    /// `b_ih + b_hh` in the panels' column order.
    bias: Vec<f32>,
}

impl Weights {
    /// From `W_ih` `[4H, I]`, `W_hh` `[4H, H]` and the biases `[4H]` (gates
    /// `i, f, g, o`), or `None` where the CPU lacks AVX-512F.
    pub fn new(
        w_ih: &[f32],
        w_hh: &[f32],
        b_ih: &[f32],
        b_hh: &[f32],
        (input, hidden): (usize, usize),
    ) -> Option<Self> {
        let padded = hidden.div_ceil(U) * U;
        // Column j: gate (j % 64) / 16 of unit (j / 64) * 16 + j % 16, as
        // its row of W_ih and W_hh (None past H).
        let row = |j: usize| {
            let unit = j / (4 * U) * U + j % U;
            (unit < hidden).then_some(j % (4 * U) / U * hidden + unit)
        };
        let panels = Panels::new((input + hidden, 4 * padded), 4 * U, |kk, j| match row(j) {
            Some(r) if kk < input => w_ih[r * input + kk],
            Some(r) => w_hh[r * hidden + kk - input],
            None => 0.0,
        })?;
        let bias = (0..4 * padded)
            .map(|j| row(j).map_or(0.0, |r| b_ih[r] + b_hh[r]))
            .collect();
        Some(Weights {
            input,
            hidden,
            panels,
            bias,
        })
    }

    /// `H` rounded up to a whole vector.
    fn padded(&self) -> usize {
        self.hidden.div_ceil(U) * U
    }
}

/// One block of sequences through all the steps: the parts of the op's
/// arguments and results for `n` sequences of `time` steps.
pub(super) struct Block<'a> {
    /// `[n, T, I]`.
    pub x: &'a [f32],
    /// `[n, H]` each.
    pub h0: &'a [f32],
    pub c0: &'a [f32],
    /// `[n, T]`: 1 for a real step, 0 for padding (the state is carried).
    pub mask: &'a [f32],
    /// Out: every step's `h` `[n, T, H]`.
    pub states: &'a mut [f32],
    /// Out: the last `c` `[n, H]`.
    pub c_last: &'a mut [f32],
    /// Out, when not empty: every step's `c, i, f, g, o` `[n, T, 5H]`.
    pub saved: &'a mut [f32],
}

/// Runs the recurrence over `order` (the steps in the order visited).
///
/// # Panics
/// When a slice of `b` is shorter than the sizes say (an internal error:
/// the op checks its arguments' shapes).
pub(super) fn run(w: &Weights, b: Block, order: &[usize]) {
    let (i, h, hp) = (w.input, w.hidden, w.padded());
    let n = b.h0.len() / h.max(1);
    let t_len = b.mask.len() / n.max(1);
    assert!(
        b.x.len() >= n * t_len * i
            && b.h0.len() == n * h
            && b.c0.len() == n * h
            && b.mask.len() == n * t_len
            && b.states.len() == n * t_len * h
            && b.c_last.len() == n * h
            && (b.saved.is_empty() || b.saved.len() == n * t_len * 5 * h)
            && order.iter().all(|&t| t < t_len),
        "LSTM block sizes"
    );
    let mut pre = vec![0.0f32; n * 4 * hp];
    let mut c = b.c0.to_vec();
    let mut prev = None;
    for &t in order {
        // SAFETY: `w` exists, so the CPU has AVX-512F; every row the
        // product reads lies in the slices (checked above: `x` has `n`
        // sequences of `T` steps of `I`, the states `n` of `T` of `H`).
        unsafe {
            match prev {
                None => products(w, &mut pre, &b.x[t * i..], t_len * i, b.h0, h, n),
                Some(p) => {
                    let states = &b.states[p * h..];
                    products(w, &mut pre, &b.x[t * i..], t_len * i, states, t_len * h, n)
                }
            }
        }
        for r in 0..n {
            let at = r * t_len + t;
            let (h_prev, h_out) = match prev {
                None => (&b.h0[r * h..][..h], &mut b.states[at * h..][..h]),
                Some(p) => rows(b.states, (r * t_len + p) * h, at * h, h),
            };
            let saved = match b.saved.is_empty() {
                true => None,
                false => Some(&mut b.saved[at * 5 * h..][..5 * h]),
            };
            let step = Step {
                pre: &pre[r * 4 * hp..][..4 * hp],
                c: &mut c[r * h..][..h],
                h_prev,
                h_out,
                saved,
            };
            // SAFETY: as above; `Step` holds whole rows of `H` (`4 * padded`
            // pre-activations, `5H` saved values).
            unsafe { cell(step, b.mask[at]) };
        }
        prev = Some(t);
    }
    b.c_last.copy_from_slice(&c);
}

/// Row `read` (to read) and row `write` (to write) of `s`, each `len`
/// long and not overlapping.
fn rows(s: &mut [f32], read: usize, write: usize, len: usize) -> (&[f32], &mut [f32]) {
    if read < write {
        let (a, b) = s.split_at_mut(write);
        (&a[read..][..len], &mut b[..len])
    } else {
        let (a, b) = s.split_at_mut(read);
        (&b[..len], &mut a[write..][..len])
    }
}

/// `pre[r] = bias + x[r] W_ih^T + h[r] W_hh^T` for the `n` sequences, as
/// `[n, 4, padded]`; rows of `x` are `ldx` apart, of `h` `ldh` apart.
///
/// # Safety
/// The CPU must have AVX-512F; `x` must hold `n` rows of `I` values `ldx`
/// apart, `h` `n` rows of `H` values `ldh` apart, and `pre` `n * 4 * padded`
/// values.
#[target_feature(enable = "avx512f")]
unsafe fn products(
    w: &Weights,
    pre: &mut [f32],
    x: &[f32],
    ldx: usize,
    h: &[f32],
    ldh: usize,
    n: usize,
) {
    let hp = w.padded();
    for u in 0..hp / U {
        let block = w.panels.block(u).as_ptr();
        let bias = Some(w.bias.as_ptr().add(u * 4 * U));
        let mut r = 0;
        while r < n {
            // Sequences r.. of the tile (the last repeated past n).
            let seq = |s: usize| (r + s).min(n - 1);
            let parts = [
                (
                    std::array::from_fn(|s| x.as_ptr().add(seq(s) * ldx)),
                    w.input,
                ),
                (
                    std::array::from_fn(|s| h.as_ptr().add(seq(s) * ldh)),
                    w.hidden,
                ),
            ];
            let acc = tile::<R, 4>(block, bias, &parts);
            for (s, acc) in acc.iter().enumerate().take(n - r) {
                let row = pre.as_mut_ptr().add((r + s) * 4 * hp + u * U);
                for (g, v) in acc.iter().enumerate() {
                    _mm512_storeu_ps(row.add(g * hp), *v);
                }
            }
            r += R;
        }
    }
}

/// One sequence's step after the products.
struct Step<'a> {
    /// `[4, padded]`.
    pre: &'a [f32],
    /// In: `c_{t-1}`; out: `c_t`. `[H]`.
    c: &'a mut [f32],
    h_prev: &'a [f32],
    h_out: &'a mut [f32],
    /// `c, i, f, g, o`, `[5, H]`.
    saved: Option<&'a mut [f32]>,
}

/// The cell over the units of `s`, 16 at a time (the last vector masked);
/// `m` is 1 for a real step, 0 for padding.
///
/// # Safety
/// The CPU must have AVX-512F; the slices of `s` must have the lengths
/// their docs give, with `padded` of at least `H` rounded up to 16.
#[target_feature(enable = "avx512f")]
unsafe fn cell(s: Step, m: f32) {
    let h = s.c.len();
    let hp = s.pre.len() / 4;
    let m = _mm512_set1_ps(m);
    // A padded step keeps the state: old + m * (new - old).
    let keep = |new: __m512, old: __m512| _mm512_fmadd_ps(m, _mm512_sub_ps(new, old), old);
    let pre = s.pre.as_ptr();
    let saved = s.saved.map(|v| v.as_mut_ptr());
    for j in (0..h).step_by(U) {
        let lanes: __mmask16 = if h - j >= U { !0 } else { (1 << (h - j)) - 1 };
        let load = |p: *const f32| _mm512_maskz_loadu_ps(lanes, p.add(j));
        let store = |p: *mut f32, v: __m512| _mm512_mask_storeu_ps(p.add(j), lanes, v);
        let i = sigmoid(_mm512_loadu_ps(pre.add(j)));
        let f = sigmoid(_mm512_loadu_ps(pre.add(hp + j)));
        let g = tanh(_mm512_loadu_ps(pre.add(2 * hp + j)));
        let o = sigmoid(_mm512_loadu_ps(pre.add(3 * hp + j)));
        let cp = load(s.c.as_ptr());
        let c = keep(_mm512_fmadd_ps(f, cp, _mm512_mul_ps(i, g)), cp);
        let h_new = keep(_mm512_mul_ps(o, tanh(c)), load(s.h_prev.as_ptr()));
        store(s.c.as_mut_ptr(), c);
        store(s.h_out.as_mut_ptr(), h_new);
        if let Some(sv) = saved {
            for (k, v) in [c, i, f, g, o].into_iter().enumerate() {
                store(sv.add(k * h), v);
            }
        }
    }
}

/// `1 / (1 + e^-x)`.
///
/// # Safety
/// The CPU must have AVX-512F (inlined into [`cell`], which enables it).
#[inline(always)]
unsafe fn sigmoid(x: __m512) -> __m512 {
    let one = _mm512_set1_ps(1.0);
    _mm512_div_ps(
        one,
        _mm512_add_ps(one, exp(_mm512_sub_ps(_mm512_setzero_ps(), x))),
    )
}

/// `2 / (1 + e^-2x) - 1`.
///
/// # Safety
/// As [`sigmoid`].
#[inline(always)]
unsafe fn tanh(x: __m512) -> __m512 {
    let (one, two) = (_mm512_set1_ps(1.0), _mm512_set1_ps(2.0));
    let e = exp(_mm512_mul_ps(_mm512_set1_ps(-2.0), x));
    _mm512_sub_ps(_mm512_div_ps(two, _mm512_add_ps(one, e)), one)
}

/// [`seq_core::cpu::exp_f32`] on sixteen lanes: `x = n ln 2 + r` with `n`
/// the nearest integer, `e^r` by the same polynomial, and `2^n` applied by
/// `vscalefps`.
///
/// # Safety
/// As [`sigmoid`].
#[inline(always)]
unsafe fn exp(x: __m512) -> __m512 {
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(EXP_MIN)),
        _mm512_set1_ps(EXP_MAX),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2[0]), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2[1]), r);
    let mut p = _mm512_set1_ps(EXP_POLY[0]);
    for c in &EXP_POLY[1..] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(*c));
    }
    let e_r = _mm512_fmadd_ps(
        p,
        _mm512_mul_ps(r, r),
        _mm512_add_ps(r, _mm512_set1_ps(1.0)),
    );
    _mm512_scalef_ps(e_r, n)
}

#[cfg(test)]
mod tests {
    use super::super::cells::{forward_row, Kind};
    use super::*;

    /// The recurrence of [`run`] against the f64 step of [`super::super::cells`]
    /// with the products written out: every state, the last `c` and the
    /// saved gates, over sizes whose sequences end inside and at a tile of
    /// four and whose units end inside and at a vector of 16, padded steps,
    /// both directions. Skipped on a CPU without AVX-512F.
    #[test]
    fn the_block_matches_the_f64_recurrence() {
        let val = |i: usize, scale: f64| ((i * 7919 % 1013) as f64 / 1013.0 - 0.5) * scale;
        for (n, t_len, i, h) in [
            (1, 1, 1, 1),
            (3, 4, 5, 7),
            (4, 3, 2, 16),
            (6, 5, 3, 17),
            (9, 2, 64, 40),
        ] {
            for (reverse, save) in [(false, true), (true, false)] {
                let w_ih: Vec<f64> = (0..4 * h * i).map(|k| val(k, 1.5)).collect();
                let w_hh: Vec<f64> = (0..4 * h * h).map(|k| val(k + 1, 1.5)).collect();
                let b_ih: Vec<f64> = (0..4 * h).map(|k| val(k + 2, 1.0)).collect();
                let b_hh: Vec<f64> = (0..4 * h).map(|k| val(k + 3, 1.0)).collect();
                let x: Vec<f64> = (0..n * t_len * i).map(|k| val(k + 4, 2.0)).collect();
                let h0: Vec<f64> = (0..n * h).map(|k| val(k + 5, 1.0)).collect();
                let c0: Vec<f64> = (0..n * h).map(|k| val(k + 6, 2.0)).collect();
                // Sequence r is padded after its first t_len - r % t_len steps.
                let mask: Vec<f64> = (0..n * t_len)
                    .map(|k| f64::from(u8::from(k % t_len < t_len - (k / t_len) % t_len)))
                    .collect();
                let order: Vec<usize> = match reverse {
                    true => (0..t_len).rev().collect(),
                    false => (0..t_len).collect(),
                };
                // f64: the products by their definition, then the step.
                let mut want_h = vec![0.0; n * t_len * h];
                let mut want_saved = vec![0.0; n * t_len * 5 * h];
                let mut want_c = c0.clone();
                for r in 0..n {
                    let (mut hp, mut cp) = (h0[r * h..][..h].to_vec(), c0[r * h..][..h].to_vec());
                    for &t in &order {
                        let at = r * t_len + t;
                        let gi: Vec<f64> = (0..4 * h)
                            .map(|g| {
                                b_ih[g]
                                    + (0..i).map(|k| w_ih[g * i + k] * x[at * i + k]).sum::<f64>()
                            })
                            .collect();
                        let gh: Vec<f64> = (0..4 * h)
                            .map(|g| b_hh[g] + (0..h).map(|k| w_hh[g * h + k] * hp[k]).sum::<f64>())
                            .collect();
                        let (hs, sv) = (
                            &mut want_h[at * h..][..h],
                            &mut want_saved[at * 5 * h..][..5 * h],
                        );
                        forward_row(Kind::Lstm, &gi, &gh, &hp, &cp, mask[at], hs, sv);
                        hp.copy_from_slice(hs);
                        cp.copy_from_slice(&sv[..h]);
                    }
                    want_c[r * h..][..h].copy_from_slice(&cp);
                }
                let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                let Some(w) = Weights::new(&f(&w_ih), &f(&w_hh), &f(&b_ih), &f(&b_hh), (i, h))
                else {
                    return;
                };
                let mut states = vec![0.0f32; n * t_len * h];
                let mut c_last = vec![0.0f32; n * h];
                let mut saved = vec![0.0f32; if save { n * t_len * 5 * h } else { 0 }];
                let (x, h0, c0, mask) = (f(&x), f(&h0), f(&c0), f(&mask));
                let block = Block {
                    x: &x,
                    h0: &h0,
                    c0: &c0,
                    mask: &mask,
                    states: &mut states,
                    c_last: &mut c_last,
                    saved: &mut saved,
                };
                run(&w, block, &order);
                let pairs = [
                    (&states, &want_h),
                    (&c_last, &want_c),
                    (&saved, &want_saved),
                ];
                for (what, (got, want)) in ["states", "last c", "saved"].iter().zip(pairs) {
                    let want = if got.is_empty() { &[][..] } else { &want[..] };
                    assert_eq!(got.len(), want.len());
                    for (k, (g, w)) in got.iter().zip(want).enumerate() {
                        let err = (f64::from(*g) - w).abs();
                        assert!(
                            err < 1e-5 * w.abs().max(1.0),
                            "{what}[{k}] ({n}x{t_len}x{i}->{h}, reverse {reverse}): {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
