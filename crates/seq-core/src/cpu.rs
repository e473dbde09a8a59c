//! Pieces shared by seq's CPU kernels (the fused recurrence, the fused
//! convolution, ReLU, Adam in place): contiguous slices of candle storage,
//! and strided matrix products through the `gemm` crate (the one candle's
//! CPU matmul uses), called on the calling thread.

use candle_core::{Layout, Result, WithDType};
use gemm::Parallelism;

/// The elements of a contiguous tensor in its storage.
pub fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("a CPU kernel of seq: non-contiguous tensor"),
    }
}

/// [`contiguous`], mutable.
pub fn contiguous_mut<'a, T>(data: &'a mut [T], layout: &Layout) -> Result<&'a mut [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&mut data[start..end]),
        None => candle_core::bail!("a CPU kernel of seq: non-contiguous tensor"),
    }
}

/// A strided matrix in a slice: element `(i, j)` at `at + i * rs + j * cs`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    /// The slice the matrix lies in.
    pub data: &'a [T],
    /// Where element `(0, 0)` is.
    pub at: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a, T> View<'a, T> {
    /// Whether an `m x n` view stays inside `data`.
    pub fn fits(&self, m: usize, n: usize) -> bool {
        m == 0 || n == 0 || self.at + (m - 1) * self.rs + (n - 1) * self.cs < self.data.len()
    }
}

/// `dst[m, n] (+)= a[m, k] · b[k, n]` on strided views (`dst` given as its
/// slice and `(at, rs, cs)`): added when `accumulate`, else written over.
///
/// # Panics
/// When a view reaches outside its slice: the kernels size their buffers
/// themselves, so that is a bug in the kernel, never bad input.
pub fn gemm<T: WithDType>(
    dst: &mut [T],
    (at, rs, cs): (usize, usize, usize),
    a: View<T>,
    b: View<T>,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    let d = View {
        data: &*dst,
        at,
        rs,
        cs,
    };
    assert!(
        d.fits(m, n) && a.fits(m, k) && b.fits(k, n),
        "matrix product operand sizes"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            (0..m).for_each(|i| (0..n).for_each(|j| dst[at + i * rs + j * cs] = T::zero()));
        }
        return;
    }
    // SAFETY: every element each view reaches is inside its slice (checked
    // above); `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(at),
            cs as isize,
            rs as isize,
            accumulate,
            a.data.as_ptr().add(a.at),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr().add(b.at),
            b.cs as isize,
            b.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a · b` written column-major into a padded destination, then added
    /// again; `k = 0` clears only the view.
    #[test]
    fn strided_products_write_only_their_view() {
        let a = [1.0f64, 2., 3., 4., 5., 6.]; // [[1, 2, 3], [4, 5, 6]]
        let b = [1.0f64, 0., 0., 1., 1., 1.]; // [[1, 0], [0, 1], [1, 1]]
        let (av, bv) = (
            View {
                data: &a[..],
                at: 0,
                rs: 3,
                cs: 1,
            },
            View {
                data: &b[..],
                at: 0,
                rs: 2,
                cs: 1,
            },
        );
        // dst(i, j) at 1 + i + 3 j: column-major with a one-element offset.
        let mut dst = [9.0; 6];
        gemm(&mut dst, (1, 1, 3), av, bv, (2, 2, 3), false);
        assert_eq!(dst, [9.0, 4., 10., 9., 5., 11.]);
        gemm(&mut dst, (1, 1, 3), av, bv, (2, 2, 3), true);
        assert_eq!(dst, [9.0, 8., 20., 9., 10., 22.]);
        gemm(&mut dst, (1, 1, 3), av, bv, (2, 2, 0), false);
        assert_eq!(dst, [9.0, 0., 0., 9., 0., 0.]);
    }
}
