//! The per-step hidden product `C[m, n] += A[m, k] · B` with `B` (`W_hh`
//! or its transpose) packed once per op call.
//!
//! Measured on the development machine (2-core AMD EPYC, AVX2), one
//! thread, the LSTM step `[16, 128] x [128, 512]`: the `gemm` crate
//! 34-38 GFLOP/s (it repacks `B` on every call), this kernel 61-92
//! GFLOP/s. f32 on an AVX2/FMA CPU takes the kernel; everything else goes
//! through [`matmul`].

use super::gemm::{matmul, Mat};
use super::math::{as_f32, as_f32_mut, Real};

/// Columns per panel: two 8-wide vectors.
const NR: usize = 16;
/// Rows per register tile: 6 x 2 accumulators + 2 loads + 1 broadcast.
const MR: usize = 6;

/// A right-hand matrix `B` `[k, n]` ready for repeated products.
pub(crate) struct Packed<T> {
    k: usize,
    n: usize,
    /// SIMD: panels of `NR` columns, the last zero-padded, each `[k, NR]`.
    /// Otherwise `B` row-major.
    data: Vec<T>,
    simd: bool,
}

impl<T: Real> Packed<T> {
    /// `B` from `w` `[rows, cols]` row-major: `w^T` `[cols, rows]` when
    /// `transpose`, else `w` itself.
    pub fn new(w: &[T], (rows, cols): (usize, usize), transpose: bool) -> Self {
        let (k, n) = if transpose {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let at = |kk: usize, j: usize| match transpose {
            true => w[j * cols + kk],
            false => w[kk * cols + j],
        };
        let simd = T::simd() && as_f32(w).is_some();
        let data = if simd {
            let mut data = vec![T::zero(); n.div_ceil(NR) * NR * k];
            for (p, panel) in data.chunks_mut(NR * k).enumerate() {
                for kk in 0..k {
                    for c in 0..NR.min(n - p * NR) {
                        panel[kk * NR + c] = at(kk, p * NR + c);
                    }
                }
            }
            data
        } else {
            (0..k * n).map(|i| at(i / n, i % n)).collect()
        };
        Packed { k, n, data, simd }
    }

    /// `dst[m, n] += a[m, k] · B`, the rows of `a` `lda` apart.
    pub fn mul_add(&self, dst: &mut [T], a: &[T], lda: usize, m: usize) {
        let (k, n) = (self.k, self.n);
        if m == 0 {
            return;
        }
        assert!(
            dst.len() >= m * n && lda >= k && a.len() >= (m - 1) * lda + k,
            "packed product operand sizes"
        );
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(d), Some(a), Some(b)) =
            (self.simd, as_f32_mut(dst), as_f32(a), as_f32(&self.data))
        {
            // SAFETY: `simd` holds only for f32 on a CPU with AVX2 and FMA
            // (checked in `new`); the sizes were checked above.
            unsafe { avx2::mul_add(d, a, lda, b, (m, n, k)) };
            return;
        }
        if lda == k {
            matmul(dst, Mat::new(a), Mat::new(&self.data), (m, n, k), true);
        } else {
            let rows: Vec<T> = (0..m)
                .flat_map(|i| &a[i * lda..i * lda + k])
                .copied()
                .collect();
            matmul(dst, Mat::new(&rows), Mat::new(&self.data), (m, n, k), true);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// Blocks of rows whose part of `a` fits in L1 (the input projection
    /// has thousands of rows), then panel by panel (one panel, `k * NR`
    /// floats, stays in L1 while the block's row tiles pass over it).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn mul_add(
        dst: &mut [f32],
        a: &[f32],
        lda: usize,
        b: &[f32],
        (m, n, k): (usize, usize, usize),
    ) {
        let block = (4096 / k.max(1)).max(1) * MR; // 16 KiB of `a` per block, at least one tile
        for r0 in (0..m).step_by(block) {
            let r1 = m.min(r0 + block);
            for p in 0..n.div_ceil(NR) {
                let panel = b.as_ptr().add(p * NR * k);
                let cols = NR.min(n - p * NR);
                let mut r = r0;
                while r < r1 {
                    let d = dst.as_mut_ptr().add(r * n + p * NR);
                    let a = a.as_ptr().add(r * lda);
                    match r1 - r {
                        1 => tile::<1>(d, n, a, lda, panel, k, cols),
                        2 => tile::<2>(d, n, a, lda, panel, k, cols),
                        3 => tile::<3>(d, n, a, lda, panel, k, cols),
                        4 => tile::<4>(d, n, a, lda, panel, k, cols),
                        5 => tile::<5>(d, n, a, lda, panel, k, cols),
                        _ => tile::<MR>(d, n, a, lda, panel, k, cols),
                    }
                    r += MR;
                }
            }
        }
    }

    /// `R` rows of `dst` (row stride `ldd`), `cols <= NR` columns.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        dst: *mut f32,
        ldd: usize,
        a: *const f32,
        lda: usize,
        panel: *const f32,
        k: usize,
        cols: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(panel.add(kk * NR));
            let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(i * lda + kk));
                acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let d = dst.add(i * ldd);
            if cols == NR {
                _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[0]));
                _mm256_storeu_ps(d.add(8), _mm256_add_ps(_mm256_loadu_ps(d.add(8)), acc[1]));
            } else {
                let mut sums = [0.0f32; NR];
                _mm256_storeu_ps(sums.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc[1]);
                for (c, s) in sums.iter().take(cols).enumerate() {
                    *d.add(c) += s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape class (full and partial panels and row tiles, a row
    /// stride) against the plain triple loop, both element types.
    #[test]
    fn packed_products_match_the_definition() {
        fn check<T: Real + std::fmt::Debug>(tol: T) {
            for (m, n, k, lda) in [
                (1, 1, 1, 1),
                (7, 33, 5, 9),
                (16, 512, 128, 128),
                (13, 20, 17, 40),
                (1000, 20, 64, 64),
            ] {
                for transpose in [false, true] {
                    let val = |i: usize| T::from((i * 37 % 101) as f64 / 50.0 - 1.0).unwrap();
                    let w: Vec<T> = (0..k * n).map(val).collect();
                    let a: Vec<T> = (0..(m - 1) * lda + k).map(|i| val(i + 5)).collect();
                    let dims = if transpose { (n, k) } else { (k, n) };
                    let b = |kk: usize, j: usize| {
                        if transpose {
                            w[j * k + kk]
                        } else {
                            w[kk * n + j]
                        }
                    };
                    let mut got: Vec<T> = (0..m * n).map(|i| val(i + 9)).collect();
                    let mut want = got.clone();
                    Packed::new(&w, dims, transpose).mul_add(&mut got, &a, lda, m);
                    for i in 0..m {
                        for j in 0..n {
                            for kk in 0..k {
                                want[i * n + j] += a[i * lda + kk] * b(kk, j);
                            }
                        }
                    }
                    for (g, w) in got.iter().zip(&want) {
                        assert!((*g - *w).abs() <= tol, "{m}x{n}x{k}: {g:?} vs {w:?}");
                    }
                }
            }
        }
        check::<f32>(1e-4);
        check::<f64>(1e-12);
    }
}
