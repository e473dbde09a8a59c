//! What changes a score before the softmax: scale, masks, additive bias,
//! and attention dropout drawn from a hash of the position.

use seq_core::cpu::Float;

use super::kernel::{Dims, Strided};

/// Dropout on the attention weights, as a hash of the position: the keep
/// decision for `(b, h, i, j)` is recomputed in backward, never stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DropMask {
    /// Probability of keeping a weight.
    pub keep: f64,
    /// The stream: the layer's seed and the training step.
    pub key: u64,
    /// The global index of weight 0 (rows of the global batch before this
    /// process's share times `H * T * S`; see `seq_core::rng::set_row_offset`).
    pub first: u64,
}

impl DropMask {
    /// Whether weight `index` (`((b * H + h) * T + i) * S + j`) is kept.
    #[inline(always)]
    pub fn kept(&self, index: u64) -> bool {
        seq_core::rng::hash_keep(self.key, self.first + index, self.keep)
    }
}

/// What changes a score before the softmax, with the composed path's
/// arithmetic: a masked key gets `neg` added (a large negative number, not
/// minus infinity), so a row whose keys are all masked is uniform there too.
pub(crate) struct Masking<'a, T> {
    /// `1 / sqrt(d)` or the caller's scale.
    pub scale: T,
    /// The masked score added (`-1e30`).
    pub neg: T,
    /// Causal with this offset: query `i` sees keys `j <= i + offset`.
    pub causal: Option<usize>,
    /// `[batch, S]`, 0 for a padded key.
    pub keys: Option<&'a [u8]>,
    /// An additive bias `[batch or 1, heads or 1, T, S]` (zero strides broadcast).
    pub bias: Option<(&'a [T], Strided)>,
    pub dropout: Option<DropMask>,
}

impl<T: Float> Masking<'_, T> {
    /// The last key tile row `i_last` reaches (exclusive end of keys).
    pub fn key_end(&self, dims: &Dims, i_last: usize) -> usize {
        match self.causal {
            Some(offset) => (i_last + offset + 1).min(dims.s),
            None => dims.s,
        }
    }

    /// Turns the raw products of a `[rows, cols]` tile (queries from `i0`,
    /// keys from `j0`) into scores, in place.
    #[inline(always)]
    pub fn scores(
        &self,
        tile: &mut [T],
        s: usize,
        (b, h): (usize, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        for r in 0..rows {
            let row = &mut tile[r * cols..(r + 1) * cols];
            row.iter_mut().for_each(|x| *x *= self.scale);
            if let Some((bias, at)) = self.bias {
                for (c, x) in row.iter_mut().enumerate() {
                    *x += bias[at.index(b, h, i0 + r, j0 + c)];
                }
            }
            if let Some(keys) = self.keys {
                let at = b * s + j0;
                for (x, &k) in row.iter_mut().zip(&keys[at..at + cols]) {
                    if k == 0 {
                        *x += self.neg;
                    }
                }
            }
            if let Some(offset) = self.causal {
                let first_masked = (i0 + r + offset + 1).saturating_sub(j0);
                for x in row.iter_mut().skip(first_masked) {
                    *x += self.neg;
                }
            }
        }
    }

    /// Multiplies `p` `[rows, cols]` by the dropout mask over `1 - p`.
    #[inline(always)]
    pub fn drop(
        &self,
        p: &mut [T],
        dims: &Dims,
        (b, h): (usize, usize),
        (i0, rows): (usize, usize),
        (j0, cols): (usize, usize),
    ) {
        let Some(mask) = self.dropout else { return };
        let inv = T::of(1.0 / mask.keep);
        for r in 0..rows {
            let base = (((b * dims.h + h) * dims.t + i0 + r) * dims.s + j0) as u64;
            for (c, x) in p[r * cols..(r + 1) * cols].iter_mut().enumerate() {
                *x = if mask.kept(base + c as u64) {
                    *x * inv
                } else {
                    T::zero()
                };
            }
        }
    }
}
