//! The tiled attention kernels on slices: FlashAttention-2's forward
//! (running maximum and sum per query row, the `T x S` scores never held
//! whole) and its backward (scores recomputed tile by tile from the saved
//! maximum and sum).
//!
//! This file holds what both passes share ([`Strided`] views, [`Dims`],
//! the [`Inputs`] and their score tiles); [`super::forward`] and
//! [`super::backward`] are the passes, [`super::masking`] what changes a
//! score.
//!
//! Every tensor is a [`Strided`] view `[batch, heads, length, width]` into
//! a slice, so packed projections and token-major layouts are read where
//! they lie. Work is split into jobs that own what they write: forward by
//! `(batch, head, block of queries)`, backward by `(batch, head)`. Each job
//! runs alone on one thread with a fixed order of summation, so results do
//! not depend on the number of threads.

use seq_core::cpu::{gemm, Float, View};

use super::masking::Masking;

/// Queries per tile. 128 x 128 tiles measured fastest on the long-context
/// bench row (causal, 8 heads of 32, 4,096 steps, forward and backward:
/// 64 x 64 346 ms, 128 x 64 331, 64 x 128 328, 128 x 128 290, 256 x 256
/// 291): fewer, larger products amortise the gemm crate's packing.
pub(crate) const BLOCK_Q: usize = 128;
/// Keys per tile.
pub(crate) const BLOCK_K: usize = 128;

/// A `[batch, heads, length, width]` tensor in a slice: element
/// `(b, h, l, w)` at `at + b sb + h sh + l sl + w sw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Strided {
    pub at: usize,
    pub sb: usize,
    pub sh: usize,
    pub sl: usize,
    pub sw: usize,
}

impl Strided {
    /// Row-major `[batch, length, heads, width]`: a token-major tensor
    /// `[batch, length, heads * width]` seen by heads.
    pub fn token_major(length: usize, heads: usize, width: usize) -> Self {
        Strided {
            at: 0,
            sb: length * heads * width,
            sh: width,
            sl: heads * width,
            sw: 1,
        }
    }

    /// The matrix `[length, width]` of batch `b`, head `h`, from row `l0`.
    pub fn matrix<'a, T>(&self, data: &'a [T], b: usize, h: usize, l0: usize) -> View<'a, T> {
        View {
            data,
            at: self.at + b * self.sb + h * self.sh + l0 * self.sl,
            rs: self.sl,
            cs: self.sw,
        }
    }

    /// Its transpose `[width, length]`.
    pub fn matrix_t<'a, T>(&self, data: &'a [T], b: usize, h: usize, l0: usize) -> View<'a, T> {
        let m = self.matrix(data, b, h, l0);
        View {
            rs: m.cs,
            cs: m.rs,
            ..m
        }
    }

    pub fn index(&self, b: usize, h: usize, l: usize, w: usize) -> usize {
        self.at + b * self.sb + h * self.sh + l * self.sl + w * self.sw
    }
}

/// The sizes: `b` batch, `h` heads, `t` queries, `s` keys, `d` query/key
/// width, `dv` value width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub b: usize,
    pub h: usize,
    pub t: usize,
    pub s: usize,
    pub d: usize,
    pub dv: usize,
}

/// The inputs of one attention call.
pub(crate) struct Inputs<'a, T> {
    pub dims: Dims,
    pub q: (&'a [T], Strided),
    pub k: (&'a [T], Strided),
    pub v: (&'a [T], Strided),
    pub masking: Masking<'a, T>,
}

impl<T: Float> Inputs<'_, T> {
    /// The scores `Q_i K_j^T scale + mask` of the tile of queries `i0..`
    /// and keys `j0..` into `p` `[rows, cols]`.
    #[inline(always)]
    pub fn scores(
        &self,
        p: &mut [T],
        (b, h): (usize, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        gemm(
            p,
            (0, cols, 1),
            self.q.1.matrix(self.q.0, b, h, i0),
            self.k.1.matrix_t(self.k.0, b, h, j0),
            (rows, cols, self.dims.d),
            false,
        );
        self.masking
            .scores(p, self.dims.s, (b, h), (i0, rows), (j0, cols));
    }
}

/// Copies each row of `rows` (`[len, width]`, row-major: the work of one
/// job for batch `b`, head `h`, from row `l0`) to where `layout` puts it in
/// `dst` (whose width stride is 1).
pub(crate) fn scatter<T: Copy>(
    dst: &mut [T],
    layout: Strided,
    (b, h, l0): (usize, usize, usize),
    rows: &[T],
    width: usize,
) {
    debug_assert_eq!(layout.sw, 1, "rows are copied whole");
    for (l, row) in rows.chunks(width).enumerate() {
        let start = layout.index(b, h, l0 + l, 0);
        dst[start..start + width].copy_from_slice(row);
    }
}
