//! Pieces shared by seq's CPU kernels (the fused recurrence, convolution,
//! attention, layer norm, softmax and GELU, ReLU, Adam in place): contiguous
//! slices of candle storage, strided matrix products through the `gemm`
//! crate (the one candle's CPU matmul uses) called on the calling thread,
//! and the element types with a vectorisable `exp`.

use candle_core::{Layout, Result, WithDType};
use gemm::Parallelism;

/// An element type of seq's CPU kernels: f32 or f64.
pub trait Float:
    num_traits::Float
    + WithDType
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + Send
    + Sync
    + 'static
{
    /// Whether the AVX2/FMA code paths apply (f32 on a CPU that has them).
    fn simd() -> bool;

    /// `e^x`: [`exp_f32`] in f32 (relative error below 1e-7, branch-free so
    /// that loops over it vectorise), the exact function in f64.
    fn exp_fast(x: Self) -> Self;

    /// This type's value of an f64 constant.
    fn of(x: f64) -> Self;
}

impl Float for f32 {
    fn simd() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[inline(always)]
    fn exp_fast(x: f32) -> f32 {
        exp_f32(x)
    }

    #[inline(always)]
    fn of(x: f64) -> f32 {
        x as f32
    }
}

impl Float for f64 {
    fn simd() -> bool {
        false
    }

    #[inline(always)]
    fn exp_fast(x: f64) -> f64 {
        x.exp()
    }

    #[inline(always)]
    fn of(x: f64) -> f64 {
        x
    }
}

/// Lanes of [`sum`] and [`max`]: separate partial results that the compiler
/// keeps in one vector register (a single running sum or maximum is a
/// serial chain it may not reorder).
const LANES: usize = 8;

/// The sum of `x` in a fixed order: lane `k` adds elements `k, k + 8, ...`,
/// then the lanes are added in order.
#[inline(always)]
pub fn sum<T: Float>(x: &[T]) -> T {
    sum_map(x, |v| v)
}

/// The sum of `f(v)` over `x`, in [`sum`]'s order (e.g. the squared
/// deviations of a variance, without a buffer for them).
#[inline(always)]
pub fn sum_map<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut lanes = [T::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(T::zero(), |a, &v| a + f(v));
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += f(v);
        }
    }
    lanes.iter().fold(tail, |a, &v| a + v)
}

/// The largest element of `x` (minus infinity for none; NaN is skipped).
#[inline(always)]
pub fn max<T: Float>(x: &[T]) -> T {
    let bigger = |a: T, v: T| if v > a { v } else { a };
    let mut lanes = [T::neg_infinity(); LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(T::neg_infinity(), |a, &v| bigger(a, v));
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = bigger(*l, v);
        }
    }
    lanes.iter().fold(tail, |a, &v| bigger(a, v))
}

/// [`exp_f32`]'s constants, shared with the kernels' vector forms of it:
/// `ln 2` in two parts (the first exact in few bits, so `n * ln2_hi` is
/// exact), the polynomial for `e^r` from its highest degree (Cephes
/// `expf`), and the inputs' range, where the result is a normal float.
pub const EXP_LN2: [f32; 2] = [0.693_359_4, -2.121_944_4e-4];
/// See [`EXP_LN2`].
pub const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
/// See [`EXP_LN2`].
pub const EXP_MIN: f32 = -87.3;
/// See [`EXP_LN2`].
pub const EXP_MAX: f32 = 88.3;

/// `e^x` in f32: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7
/// polynomial for `e^r` (Cephes `expf`), and `2^n` written into the
/// exponent bits. Inputs are clamped to where the result is a normal float,
/// so `exp_f32(-inf)` is about 1.2e-38, not 0: callers that need an exact 0
/// for masked entries test for them.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let [ln2_hi, ln2_lo] = EXP_LN2;
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * ln2_hi - n * ln2_lo;
    let p = EXP_POLY[1..].iter().fold(EXP_POLY[0], |p, &c| p * r + c);
    let e_r = p * r * r + r + 1.0;
    // n + 127 in the low mantissa bits of a float in [2^23, 2^24), shifted
    // into the exponent field: the bits of 2^n.
    let two_n = f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23);
    e_r * two_n
}

/// Whether seq's CPU kernels can take `t`: a CPU tensor of f32 or f64.
pub fn supports(t: &candle_core::Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// The elements of a contiguous tensor in its storage.
pub fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("a CPU kernel of seq: non-contiguous tensor"),
    }
}

/// The elements of a contiguous CPU tensor from its storage guard
/// (`tensor.storage_and_layout()`), as `T`.
pub fn storage_slice<'a, T: WithDType>(
    storage: &'a candle_core::Storage,
    layout: &Layout,
) -> Result<&'a [T]> {
    match storage {
        candle_core::Storage::Cpu(s) => contiguous(T::cpu_storage_as_slice(s)?, layout),
        _ => candle_core::bail!("a CPU kernel of seq: CPU tensors only"),
    }
}

/// [`contiguous`], mutable.
pub fn contiguous_mut<'a, T>(data: &'a mut [T], layout: &Layout) -> Result<&'a mut [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&mut data[start..end]),
        None => candle_core::bail!("a CPU kernel of seq: non-contiguous tensor"),
    }
}

/// Writes `row` over and over into `out` (whose length must be a multiple
/// of `row`'s) and returns it as initialised values: the first write of a
/// kernel's output, the bias of every row, without zero-filling it first.
///
/// # Panics
/// When `out.len()` is not a multiple of `row.len()` (a kernel's own
/// sizing bug, never bad input).
pub fn fill_rows<'a, T: Copy>(out: &'a mut [std::mem::MaybeUninit<T>], row: &[T]) -> &'a mut [T] {
    assert!(
        out.is_empty() || (!row.is_empty() && out.len().is_multiple_of(row.len())),
        "fill_rows: {} elements are not rows of {}",
        out.len(),
        row.len()
    );
    for chunk in out.chunks_mut(row.len().max(1)) {
        for (o, &v) in chunk.iter_mut().zip(row) {
            o.write(v);
        }
    }
    // SAFETY: the loops wrote every element of `out` (each chunk is exactly
    // `row.len()` long, checked above), and `MaybeUninit<T>` has the layout
    // of `T`.
    unsafe { &mut *(out as *mut [std::mem::MaybeUninit<T>] as *mut [T]) }
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

    #[test]
    fn sum_map_adds_the_mapped_values() {
        // 1^2 + ... + 13^2 = 13 * 14 * 27 / 6 (eight lanes and a tail of five).
        let x: Vec<f64> = (1..=13).map(f64::from).collect();
        assert_eq!(sum_map(&x, |v| v * v), 819.0);
        assert_eq!(sum_map(&x[..3], |v| 2.0 * v), 12.0);
        assert_eq!(sum_map::<f32>(&[], |v| v + 1.0), 0.0);
    }

    #[test]
    fn fill_rows_repeats_the_row_over_the_whole_buffer() {
        let mut buffer = Vec::<f32>::with_capacity(12);
        let filled = fill_rows(&mut buffer.spare_capacity_mut()[..12], &[1.0, 2.0, 3.0]);
        assert_eq!(filled, [1.0, 2.0, 3.0].repeat(4));
        assert!(fill_rows::<f32>(&mut [], &[]).is_empty());
        let caught = std::panic::catch_unwind(|| {
            let mut buffer = Vec::<f32>::with_capacity(5);
            fill_rows(&mut buffer.spare_capacity_mut()[..5], &[1.0, 2.0]).len()
        });
        assert!(caught.is_err(), "5 elements are not rows of 2");
    }

    #[test]
    fn exp_f32_is_within_1e7_relative() {
        let mut worst = 0.0f64;
        for i in -1_700_000..1_700_000 {
            let x = i as f32 * 5e-5; // [-85, 85]
            let exact = f64::from(x).exp();
            worst = worst.max((f64::from(exp_f32(x)) - exact).abs() / exact);
        }
        assert!(worst < 1e-7, "relative error {worst:e}");
        assert!(exp_f32(-1e30) >= 0.0 && exp_f32(1e30).is_finite());
    }

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
