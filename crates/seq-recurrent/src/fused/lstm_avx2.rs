//! The LSTM's forward step in AVX2/FMA intrinsics (f32), eight hidden
//! units at a time: the gates' `exp` with fused multiply-adds (the
//! compiler does not contract `a * b + c` on its own), and every value kept
//! in registers from the pre-activations to `h`. [`super::cells`] calls it
//! for f32 on a CPU with AVX2 and FMA and runs its portable loop for the
//! other units (a CPU with AVX-512F runs the whole forward step in
//! [`super::lstm_avx512`] instead); its test compares the f32 step (both
//! codes) with the f64 one.

use std::arch::x86_64::*;

use seq_core::cpu::{EXP_LN2, EXP_MAX, EXP_MIN, EXP_POLY};

/// The slices of one sequence's step, each `h` long: the two products'
/// gate parts (`i, f, g, o`), the previous state, and where the step
/// writes `c, i, f, g, o` (saved) and `h`.
pub(super) struct LstmRow<'a> {
    pub x: [&'a [f32]; 4],
    pub hh: [&'a [f32]; 4],
    pub c_prev: &'a [f32],
    pub h_prev: &'a [f32],
    pub saved: [&'a mut [f32]; 5],
    pub h_out: &'a mut [f32],
}

/// Runs the step for the units `0..8 * (h / 8)` and returns that count;
/// `m` is 1 for a real step, 0 for padding (the state is carried).
///
/// # Safety
/// The CPU must have AVX2 and FMA, and every slice of `row` must be at
/// least as long as `row.h_prev`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn lstm_row(row: LstmRow, m: f32) -> usize {
    let h = row.h_prev.len();
    let done = h / 8 * 8;
    let LstmRow {
        x,
        hh,
        c_prev,
        h_prev,
        saved: [cs, is, fs, gs, os],
        h_out,
    } = row;
    let m = _mm256_set1_ps(m);
    let load = |s: &[f32], j: usize| _mm256_loadu_ps(s.as_ptr().add(j));
    for j in (0..done).step_by(8) {
        let pre = |k: usize| _mm256_add_ps(load(x[k], j), load(hh[k], j));
        let i = sigmoid(pre(0));
        let f = sigmoid(pre(1));
        let g = tanh(pre(2));
        let o = sigmoid(pre(3));
        let cp = load(c_prev, j);
        let c = _mm256_fmadd_ps(f, cp, _mm256_mul_ps(i, g));
        // A padded step keeps the state: old + m * (new - old).
        let keep = |new: __m256, old: __m256| _mm256_fmadd_ps(m, _mm256_sub_ps(new, old), old);
        let hp = load(h_prev, j);
        for (s, v) in [(&mut *is, i), (&mut *fs, f), (&mut *gs, g), (&mut *os, o)] {
            _mm256_storeu_ps(s.as_mut_ptr().add(j), v);
        }
        _mm256_storeu_ps(cs.as_mut_ptr().add(j), keep(c, cp));
        _mm256_storeu_ps(
            h_out.as_mut_ptr().add(j),
            keep(_mm256_mul_ps(o, tanh(c)), hp),
        );
    }
    done
}

/// `1 / (1 + e^-x)`.
///
/// # Safety
/// The CPU must have AVX2 and FMA (inlined into [`lstm_row`], which
/// enables them).
#[inline(always)]
unsafe fn sigmoid(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    _mm256_div_ps(
        one,
        _mm256_add_ps(one, exp(_mm256_sub_ps(_mm256_setzero_ps(), x))),
    )
}

/// `2 / (1 + e^-2x) - 1`.
///
/// # Safety
/// As [`sigmoid`].
#[inline(always)]
unsafe fn tanh(x: __m256) -> __m256 {
    let (one, two) = (_mm256_set1_ps(1.0), _mm256_set1_ps(2.0));
    let e = exp(_mm256_mul_ps(_mm256_set1_ps(-2.0), x));
    _mm256_sub_ps(_mm256_div_ps(two, _mm256_add_ps(one, e)), one)
}

/// [`seq_core::cpu::exp_f32`] on eight lanes, its products and sums fused.
///
/// # Safety
/// As [`sigmoid`].
#[inline(always)]
unsafe fn exp(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(EXP_MIN)),
        _mm256_set1_ps(EXP_MAX),
    );
    let n = _mm256_floor_ps(_mm256_fmadd_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
        _mm256_set1_ps(0.5),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2[0]), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2[1]), r);
    let mut p = _mm256_set1_ps(EXP_POLY[0]);
    for c in &EXP_POLY[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
    }
    let e_r = _mm256_fmadd_ps(
        p,
        _mm256_mul_ps(r, r),
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    // 2^n: n + 127 in the exponent field (n is an integer in [-126, 128]).
    let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    ));
    _mm256_mul_ps(e_r, _mm256_castsi256_ps(bits))
}
