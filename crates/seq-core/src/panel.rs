//! Products in AVX-512 (f32) for kernels that gather their left-hand rows:
//! a right-hand matrix `B` `[k, n]` packed once in [`Panels`] of 16, 32, 48
//! or 64 columns, and a register [`tile`] that multiplies up to 4 rows by
//! one panel, the rows' `k` values coming from several places (an LSTM's
//! input row then its state row; a convolution's input rows, one per tap).
//! The sums stay in registers for the caller's epilogue (the LSTM's gates,
//! the convolution's store).
//!
//! `Panels::new` returns `None` on a CPU without AVX-512F, so that holding
//! panels proves the CPU can run [`tile`]. Its users test their results
//! against their portable paths.

#[cfg(target_arch = "x86_64")]
pub use x86::{tile, Panels};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `B` `[k, n]` in blocks of `width` columns (a multiple of 16, at most
    /// 64), each block `[k, width]` row-major, zero past `n`.
    pub struct Panels {
        k: usize,
        width: usize,
        data: Vec<f32>,
    }

    impl Panels {
        /// `B[kk, j] = value(kk, j)`, packed in blocks of `width` columns
        /// (16, 32, 48 or 64); `None` where the CPU lacks AVX-512F or
        /// `width` is not one of those.
        pub fn new(
            (k, n): (usize, usize),
            width: usize,
            value: impl Fn(usize, usize) -> f32,
        ) -> Option<Self> {
            if !std::arch::is_x86_feature_detected!("avx512f") || ![16, 32, 48, 64].contains(&width)
            {
                return None;
            }
            let mut data = vec![0.0; n.div_ceil(width) * k * width];
            // Column by column: `value` then reads a column's values in
            // the order a row-major weight holds them.
            for (j, c) in (0..n).map(|j| (j, j / width * k * width + j % width)) {
                for (kk, v) in data[c..].iter_mut().step_by(width).take(k).enumerate() {
                    *v = value(kk, j);
                }
            }
            Some(Panels { k, width, data })
        }

        /// Block `b`, `[k, width]`.
        pub fn block(&self, b: usize) -> &[f32] {
            &self.data[b * self.k * self.width..][..self.k * self.width]
        }
    }

    /// Rows `s` of `A` times a block of panels: `acc[s][g]`, the 16 columns
    /// `16g..16g + 16` of the block, is `init[16g..]` (zero without `init`)
    /// plus, for each `(rows, len)` of `parts` in turn, `rows[s][kk] *
    /// block[kk, 16g..]` summed over `kk < len`, the block's rows running
    /// on from one part to the next.
    ///
    /// # Safety
    /// The CPU must have AVX-512F (it does where a [`Panels`] exists);
    /// `block` must hold `16 * G` values for each of the parts' `len`s
    /// together, `init` `16 * G` values, and each `rows[s]` `len` values.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn tile<const N: usize, const G: usize>(
        block: *const f32,
        init: Option<*const f32>,
        parts: &[([*const f32; N], usize)],
    ) -> [[__m512; G]; N] {
        let start = match init {
            Some(p) => std::array::from_fn(|g| _mm512_loadu_ps(p.add(16 * g))),
            None => [_mm512_setzero_ps(); G],
        };
        let mut acc = [start; N];
        let mut b = block;
        for &(rows, len) in parts {
            for kk in 0..len {
                let bv: [__m512; G] = std::array::from_fn(|g| _mm512_loadu_ps(b.add(16 * g)));
                for (s, acc) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*rows[s].add(kk));
                    for g in 0..G {
                        acc[g] = _mm512_fmadd_ps(a, bv[g], acc[g]);
                    }
                }
                b = b.add(16 * G);
            }
        }
        acc
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Every row count, panel width and a block past `n`, two parts
        /// with their own row strides, against the definition.
        #[test]
        fn tiles_match_the_definition() {
            let val = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 2.0;
            let (k1, k2, n) = (5, 7, 40);
            let b: Vec<f32> = (0..(k1 + k2) * n).map(val).collect();
            let init: Vec<f32> = (0..64).map(|i| val(i + 3)).collect();
            let a1: Vec<f32> = (0..4 * 9).map(|i| val(i + 5)).collect(); // rows 9 apart
            let a2: Vec<f32> = (0..4 * k2).map(|i| val(i + 7)).collect(); // rows k2 apart
            for width in [16, 32, 48, 64] {
                let Some(p) = Panels::new((k1 + k2, n), width, |kk, j| b[kk * n + j]) else {
                    return;
                };
                for blk in 0..n.div_ceil(width) {
                    assert_eq!(p.block(blk).len(), (k1 + k2) * width);
                    let mut got = [[0.0f32; 64]; 4];
                    // SAFETY: `Panels::new` succeeded, so the CPU has
                    // AVX-512F; the rows hold their parts' lengths and the
                    // block and `init` `width` values per row.
                    unsafe {
                        let rows = |s: usize| [a1.as_ptr().add(9 * s), a2.as_ptr().add(k2 * s)];
                        let parts = |s: [usize; 4]| {
                            [(s.map(|s| rows(s)[0]), k1), (s.map(|s| rows(s)[1]), k2)]
                        };
                        let init = Some(init.as_ptr());
                        let block = p.block(blk).as_ptr();
                        macro_rules! run {
                            ($g:literal) => {{
                                let acc = tile::<4, $g>(block, init, &parts([0, 1, 2, 3]));
                                for (s, acc) in acc.iter().enumerate() {
                                    for (g, v) in acc.iter().enumerate() {
                                        _mm512_storeu_ps(got[s].as_mut_ptr().add(16 * g), *v);
                                    }
                                }
                            }};
                        }
                        match width {
                            16 => run!(1),
                            32 => run!(2),
                            48 => run!(3),
                            _ => run!(4),
                        }
                    }
                    for s in 0..4 {
                        for c in 0..width {
                            let j = blk * width + c;
                            let mut want = init[c];
                            if j < n {
                                want += (0..k1)
                                    .map(|kk| a1[9 * s + kk] * b[kk * n + j])
                                    .sum::<f32>();
                                want += (0..k2)
                                    .map(|kk| a2[k2 * s + kk] * b[(k1 + kk) * n + j])
                                    .sum::<f32>();
                            }
                            let g = got[s][c];
                            assert!(
                                (g - want).abs() < 1e-5,
                                "width {width}, row {s}, column {j}: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
