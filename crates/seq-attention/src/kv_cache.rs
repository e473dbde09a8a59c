//! [`KvCache`]: a decoder's projected keys and values between steps,
//! appended in place.

use candle_core::Tensor;
use seq_core::{Error, Result};

/// Projected keys and values kept between decoding steps, `[batch, heads,
/// S, d]` each: a new token costs one step, not a recomputation of the prefix.
///
/// The steps live in buffers with room to spare (`[batch, heads, capacity,
/// d]`, the capacity doubled when full), and a step is written in place:
/// the cache's own appends copy `O(T)` steps over `T` tokens instead of
/// concatenating the whole cache at every step. (The attention over it
/// still reads the cached keys and values into contiguous matrices at each
/// step: `forward_cached` returns per-head weights, which take the
/// composed path.) Written in place, the cache is for inference: its
/// appends are not recorded for gradients.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
}

/// The fewest steps a cache makes room for.
const MIN_CAPACITY: usize = 16;

impl KvCache {
    /// The number of cached steps.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the batch rows `rows` `[n]` (u32), in that order: beam search
    /// follows the surviving hypotheses.
    pub fn reorder(&mut self, rows: &Tensor) -> Result<()> {
        for t in [&mut self.k, &mut self.v].into_iter().flatten() {
            *t = t.index_select(rows, 0)?;
        }
        Ok(())
    }

    /// A cache holding `k`, `v` `[batch, heads, S, d]` whole (the
    /// projected memory that cross-attention reads at every step).
    pub(crate) fn filled(k: Tensor, v: Tensor) -> Self {
        KvCache {
            len: k.dims()[2],
            k: Some(k),
            v: Some(v),
        }
    }

    /// The cached keys and values, `[batch, heads, len, d]` views.
    pub(crate) fn views(&self) -> Option<(Tensor, Tensor)> {
        let (k, v) = (self.k.as_ref()?, self.v.as_ref()?);
        let narrow = |t: &Tensor| t.narrow(2, 0, self.len);
        Some((narrow(k).ok()?, narrow(v).ok()?))
    }

    /// Writes the steps `k`, `v` `[batch, heads, n, d]` after the cached
    /// ones, making room first if needed; returns every cached step.
    pub(crate) fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = k.dims()[2];
        let capacity = self.k.as_ref().map_or(0, |b| b.dims()[2]);
        if self.len + n > capacity {
            let capacity = (2 * capacity).max(self.len + n).max(MIN_CAPACITY);
            for (buffer, new) in [(&mut self.k, k), (&mut self.v, v)] {
                let mut dims = new.dims().to_vec();
                dims[2] = capacity;
                let grown = Tensor::zeros(dims, new.dtype(), new.device())?;
                if let Some(old) = buffer.as_ref() {
                    grown.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                }
                *buffer = Some(grown);
            }
        }
        for (buffer, new) in [(&self.k, k), (&self.v, v)] {
            if let Some(buffer) = buffer {
                buffer.slice_set(&new.contiguous()?, 2, self.len)?;
            }
        }
        self.len += n;
        self.views()
            .ok_or_else(|| Error::config("KvCache", "the cache lost its buffers"))
    }
}
