//! The element-wise part of one step for one sequence, forward and
//! backward, for each cell kind. The matrix products are done by the
//! caller; `gi = W_ih x + b_ih` and `gh = W_hh h_{k-1} + b_hh` come in.
//!
//! A step writes the state after it, `h` (kept from before on a padded
//! step), and saves `saved * H` values for the backward pass:
//!
//! | kind | saved |
//! |---|---|
//! | Elman RNN | nothing (its derivative comes from `h`) |
//! | LSTM | `c, i, f, g, o` |
//! | GRU | `r, z, n, W_hn h_{k-1} + b_hn` |

// The loops index several gate slices at once; indices read as the math does.
#![allow(clippy::needless_range_loop)]

use num_traits::Float;
use seq_core::Activation;

use super::math::{as_f32, as_f32_mut, Real};

/// Which cell a fused op runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rnn(Activation),
    Lstm,
    Gru,
}

impl Kind {
    /// Gates per hidden unit in `W_ih` and `W_hh`.
    pub fn gates(self) -> usize {
        match self {
            Kind::Rnn(_) => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }

    /// Values per hidden unit a step saves for the backward pass.
    pub fn saved(self) -> usize {
        match self {
            Kind::Rnn(_) => 0,
            Kind::Lstm => 5,
            Kind::Gru => 4,
        }
    }

    pub fn has_c(self) -> bool {
        self == Kind::Lstm
    }
}

/// One sequence's step forward: `h_out` gets the new state and `saved`
/// the values above; `m` is 1 for a real step and 0 for padding (the state
/// is then carried).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn forward_row<T: Real>(
    kind: Kind,
    gi: &[T],
    gh: &[T],
    h_prev: &[T],
    c_prev: &[T],
    m: T,
    hs: &mut [T],
    saved: &mut [T],
) {
    let h = h_prev.len();
    let keep = |new: T, old: T| old + m * (new - old);
    let (hs, h_prev) = (&mut hs[..h], &h_prev[..h]);
    match kind {
        Kind::Rnn(g1) => {
            let (gi, gh) = (&gi[..h], &gh[..h]);
            for j in 0..h {
                let pre = gi[j] + gh[j];
                let a = match g1 {
                    Activation::Relu => Float::max(pre, T::zero()),
                    Activation::Sigmoid => T::sigmoid(pre),
                    Activation::Identity => pre,
                    _ => T::tanh_gate(pre),
                };
                hs[j] = keep(a, h_prev[j]);
            }
        }
        Kind::Lstm => {
            let ([xi, xf, xg, xo], [hi, hf, hg, ho]) = (parts(gi, h), parts(gh, h));
            let [cs, is, fs, gs, os] = parts_mut(saved, h);
            let c_prev = &c_prev[..h];
            let done = lstm_simd(
                [xi, xf, xg, xo],
                [hi, hf, hg, ho],
                c_prev,
                h_prev,
                [&mut *cs, &mut *is, &mut *fs, &mut *gs, &mut *os],
                &mut *hs,
                m,
            );
            for j in done..h {
                let i = T::sigmoid(xi[j] + hi[j]);
                let f = T::sigmoid(xf[j] + hf[j]);
                let g = T::tanh_gate(xg[j] + hg[j]);
                let o = T::sigmoid(xo[j] + ho[j]);
                let c = f * c_prev[j] + i * g;
                (is[j], fs[j], gs[j], os[j]) = (i, f, g, o);
                cs[j] = keep(c, c_prev[j]);
                hs[j] = keep(o * T::tanh_gate(c), h_prev[j]);
            }
        }
        Kind::Gru => {
            let ([xr, xz, xn], [hr, hz, hn]) = (parts(gi, h), parts(gh, h));
            let [rs, zs, ns, ghn] = parts_mut(saved, h);
            for j in 0..h {
                let r = T::sigmoid(xr[j] + hr[j]);
                let z = T::sigmoid(xz[j] + hz[j]);
                let n = T::tanh_gate(xn[j] + r * hn[j]);
                (rs[j], zs[j], ns[j], ghn[j]) = (r, z, n, hn[j]);
                hs[j] = keep(n + z * (h_prev[j] - n), h_prev[j]);
            }
        }
    }
}

/// The LSTM step's vector code where it applies (f32 on a CPU with AVX2
/// and FMA): the number of units it did, from the first; 0 elsewhere.
#[inline(always)]
fn lstm_simd<T: Real>(
    x: [&[T]; 4],
    hh: [&[T]; 4],
    c_prev: &[T],
    h_prev: &[T],
    saved: [&mut [T]; 5],
    h_out: &mut [T],
    m: T,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if let (true, Some(c_prev), Some(h_prev)) = (T::simd(), as_f32(c_prev), as_f32(h_prev)) {
        use super::lstm_avx2::{lstm_row, LstmRow};
        // `T` is f32 here, so every slice converts.
        fn f<T: 'static>(s: &[T]) -> &[f32] {
            as_f32(s).unwrap_or_default()
        }
        fn f_mut<T: 'static>(s: &mut [T]) -> &mut [f32] {
            as_f32_mut(s).unwrap_or_default()
        }
        let row = LstmRow {
            x: x.map(f),
            hh: hh.map(f),
            c_prev,
            h_prev,
            saved: saved.map(f_mut),
            h_out: f_mut(h_out),
        };
        let m = m.to_f32().unwrap_or(1.0);
        // SAFETY: `simd()` checked that the CPU has AVX2 and FMA; the
        // caller cut every slice to the state's length `h`, and each
        // converted whole (`T` is f32).
        return unsafe { lstm_row(row, m) };
    }
    let _ = (x, hh, c_prev, h_prev, saved, h_out, m);
    0
}

/// The first `N` slices of length `h` of `s` (each exactly `h` long, so
/// that the gate loops index them without bounds checks and vectorise).
#[inline(always)]
fn parts<const N: usize, T>(s: &[T], h: usize) -> [&[T]; N] {
    let s = &s[..N * h];
    std::array::from_fn(|k| &s[k * h..][..h])
}

/// [`parts`], mutable. Each part comes from `split_at_mut(h)`, so the
/// compiler knows its length is `h`: the gate loops then need no bounds
/// checks, which would keep them from vectorising.
#[inline(always)]
fn parts_mut<const N: usize, T>(s: &mut [T], h: usize) -> [&mut [T]; N] {
    let mut rest = &mut s[..N * h];
    std::array::from_fn(|_| {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(h);
        rest = tail;
        part
    })
}

/// Gradients of one step for one sequence.
pub(crate) struct RowGrads<'a, T> {
    /// In: dL/dh after the step (from the output and from later steps).
    /// Out: the part that flows to `h_{k-1}` directly (not through `W_hh`).
    pub dh: &'a mut [T],
    /// In: dL/dc after the step (LSTM). Out: dL/dc_{k-1}.
    pub dc: &'a mut [T],
    /// Out: dL/d(gi), the input projection's pre-activation.
    pub dgi: &'a mut [T],
    /// Out, GRU only: dL/d(gh), the hidden product's (for the other cells
    /// it equals `dgi`, and this slice is empty).
    pub dgh: &'a mut [T],
}

/// One sequence's step backward from its new state `hs` and saved values.
#[inline(always)]
pub(crate) fn backward_row<T: Real>(
    kind: Kind,
    hs: &[T],
    saved: &[T],
    h_prev: &[T],
    c_prev: &[T],
    m: T,
    g: RowGrads<T>,
) {
    let h = h_prev.len();
    let one = T::one();
    let (dh, h_prev) = (&mut g.dh[..h], &h_prev[..h]);
    match kind {
        Kind::Rnn(g1) => {
            let (hs, dgi) = (&hs[..h], &mut g.dgi[..h]);
            for j in 0..h {
                // On a real step the output is a = g1(pre); derivatives from it.
                let a = hs[j];
                let da = match g1 {
                    Activation::Relu => {
                        if a > T::zero() {
                            one
                        } else {
                            T::zero()
                        }
                    }
                    Activation::Sigmoid => a * (one - a),
                    Activation::Identity => one,
                    _ => one - a * a,
                };
                let d = dh[j];
                dgi[j] = m * d * da;
                dh[j] = (one - m) * d;
            }
        }
        Kind::Lstm => {
            let [cs, is, fs, gs, os] = parts(saved, h);
            let [di, df, dg, d_o] = parts_mut(g.dgi, h);
            let (dc, c_prev) = (&mut g.dc[..h], &c_prev[..h]);
            for j in 0..h {
                let (i, f, gg, o) = (is[j], fs[j], gs[j], os[j]);
                let tc = T::tanh_gate(cs[j]); // c is the new cell on a real step
                let dh_new = m * dh[j];
                let dc_new = m * dc[j] + dh_new * o * (one - tc * tc);
                let dh_o = dh_new * tc;
                let (d_i, d_f, d_g) = (dc_new * gg, dc_new * c_prev[j], dc_new * i);
                di[j] = d_i * i * (one - i);
                df[j] = d_f * f * (one - f);
                dg[j] = d_g * (one - gg * gg);
                d_o[j] = dh_o * o * (one - o);
                dc[j] = dc_new * f + (one - m) * dc[j];
                dh[j] = (one - m) * dh[j];
            }
        }
        Kind::Gru => {
            let [rs, zs, ns, ghn] = parts(saved, h);
            let [dxr, dxz, dxn] = parts_mut(g.dgi, h);
            let [dhr, dhz, dhn] = parts_mut(g.dgh, h);
            for j in 0..h {
                let (r, z, n) = (rs[j], zs[j], ns[j]);
                let dh_new = m * dh[j];
                let dn = dh_new * (one - z);
                let dz = dh_new * (h_prev[j] - n);
                let dpre_n = dn * (one - n * n);
                let dr = dpre_n * ghn[j];
                dxr[j] = dr * r * (one - r);
                dxz[j] = dz * z * (one - z);
                dxn[j] = dpre_n;
                dhr[j] = dxr[j];
                dhz[j] = dxz[j];
                dhn[j] = dpre_n * r;
                dh[j] = dh_new * z + (one - m) * dh[j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The LSTM step in f32 (the AVX2/FMA code for whole groups of eight
    /// units where the CPU has it, the portable loop for the rest) against
    /// the same step in f64 with the exact functions, on real and padded
    /// steps and widths that end inside and at a group of eight.
    #[test]
    fn f32_lstm_step_matches_the_f64_step() {
        let val = |i: usize, scale: f64| ((i * 7919 % 1013) as f64 / 1013.0 - 0.5) * scale;
        for h in [1, 7, 8, 13, 128] {
            for m in [1.0, 0.0] {
                let gi: Vec<f64> = (0..4 * h).map(|i| val(i, 12.0)).collect();
                let gh: Vec<f64> = (0..4 * h).map(|i| val(i + 3, 6.0)).collect();
                let hp: Vec<f64> = (0..h).map(|i| val(i + 5, 2.0)).collect();
                let cp: Vec<f64> = (0..h).map(|i| val(i + 9, 4.0)).collect();
                let (mut h64, mut s64) = (vec![0.0; h], vec![0.0; 5 * h]);
                forward_row(Kind::Lstm, &gi, &gh, &hp, &cp, m, &mut h64, &mut s64);
                let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                let (mut h32, mut s32) = (vec![0.0f32; h], vec![0.0f32; 5 * h]);
                let (gi, gh, hp, cp) = (f(&gi), f(&gh), f(&hp), f(&cp));
                forward_row(Kind::Lstm, &gi, &gh, &hp, &cp, m as f32, &mut h32, &mut s32);
                for (got, want) in h32.iter().chain(&s32).zip(h64.iter().chain(&s64)) {
                    let err = (f64::from(*got) - want).abs();
                    assert!(
                        err < 1e-6 * want.abs().max(1.0),
                        "h {h}, m {m}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
