//! Matrix products on row-major slices ([`seq_core::cpu::gemm`]): the
//! weight gradients, and every product where [`super::kernel`] has no fast
//! path (f64, no AVX2).

use candle_core::WithDType;
use seq_core::cpu::{gemm, View};

/// A row-major matrix operand: its data, whether the slice holds its
/// transpose (so `W^T` is read from `W` without a copy), and the stride
/// between the stored rows when they are not packed.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub transposed: bool,
    pub ld: Option<usize>,
}

impl<'a, T> Mat<'a, T> {
    pub fn new(data: &'a [T]) -> Self {
        Mat {
            data,
            transposed: false,
            ld: None,
        }
    }

    pub fn t(data: &'a [T]) -> Self {
        Mat {
            transposed: true,
            ..Mat::new(data)
        }
    }

    /// Rows `ld` apart in `data`.
    pub fn strided(data: &'a [T], ld: usize) -> Self {
        Mat {
            ld: Some(ld),
            ..Mat::new(data)
        }
    }

    /// The `rows x cols` matrix this operand stands for.
    fn view(&self, rows: usize, cols: usize) -> View<'a, T> {
        let inner = if self.transposed { rows } else { cols };
        let ld = self.ld.unwrap_or(inner);
        let (rs, cs) = if self.transposed { (1, ld) } else { (ld, 1) };
        View {
            data: self.data,
            at: 0,
            rs,
            cs,
        }
    }
}

/// `dst[m, n] (+)= a[m, k] · b[k, n]`: added to `dst` when `accumulate`,
/// else written over it. On the calling thread only: the fused op runs
/// blocks of sequences on every thread already.
pub(crate) fn matmul<T: WithDType>(
    dst: &mut [T],
    a: Mat<T>,
    b: Mat<T>,
    dims: (usize, usize, usize),
    accumulate: bool,
) {
    matmul_strided(dst, dims.1, a, b, dims, accumulate)
}

/// [`matmul`] into rows of `dst` `ldd` apart.
pub(crate) fn matmul_strided<T: WithDType>(
    dst: &mut [T],
    ldd: usize,
    a: Mat<T>,
    b: Mat<T>,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(ldd >= n, "matmul destination stride");
    gemm(
        dst,
        (0, ldd, 1),
        a.view(m, k),
        b.view(k, n),
        (m, n, k),
        accumulate,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_with_and_without_transposes() {
        // a = [[1, 2, 3], [4, 5, 6]] (2x3), b = [[1, 0], [0, 1], [1, 1]] (3x2)
        let a = [1.0f64, 2., 3., 4., 5., 6.];
        let a_t = [1.0f64, 4., 2., 5., 3., 6.];
        let b = [1.0f64, 0., 0., 1., 1., 1.];
        let b_t = [1.0f64, 0., 1., 0., 1., 1.];
        let want = [4.0, 5., 10., 11.];
        for (am, bm) in [
            (Mat::new(&a[..]), Mat::new(&b[..])),
            (Mat::t(&a_t[..]), Mat::t(&b_t[..])),
        ] {
            let mut c = [0.0; 4];
            matmul(&mut c, am, bm, (2, 2, 3), false);
            assert_eq!(c, want);
            matmul(&mut c, am, bm, (2, 2, 3), true);
            assert_eq!(c, want.map(|v| 2.0 * v));
        }
        // Rows of `a` 4 apart, rows of the result 3 apart (the third
        // column is left alone).
        let a_padded = [1.0f64, 2., 3., 9., 4., 5., 6.];
        let mut c = [0.0, 0., -1., 0., 0.];
        matmul_strided(
            &mut c,
            3,
            Mat::strided(&a_padded, 4),
            Mat::new(&b[..]),
            (2, 2, 3),
            false,
        );
        assert_eq!(c, [4.0, 5., -1., 10., 11.]);
    }
}
