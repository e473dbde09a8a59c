//! Running the fused recurrence on parts of the batch in parallel: the
//! sequences of a batch never meet inside a recurrent layer, so each
//! thread takes a block of rows through all the steps on its own (no
//! synchronisation per step), forward and backward; only `dW_hh` and
//! `db_hh` are summed over the blocks.

use std::ops::Range;

use num_traits::Float;

use super::{Bptt, FusedRecurrence};

/// Rows `r` of every step of `data` `[steps, batch, width]`: `[steps, |r|, width]`.
fn take<T: Copy>(
    data: &[T],
    (steps, batch, width): (usize, usize, usize),
    r: &Range<usize>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(steps * r.len() * width);
    for t in 0..steps {
        out.extend_from_slice(&data[(t * batch + r.start) * width..(t * batch + r.end) * width]);
    }
    out
}

/// Writes `part` `[steps, |r|, width]` into rows `r` of `data` `[steps, batch, width]`.
fn put<T: Copy>(
    data: &mut [T],
    part: &[T],
    (steps, batch, width): (usize, usize, usize),
    r: &Range<usize>,
) {
    let n = r.len() * width;
    for t in 0..steps {
        data[(t * batch + r.start) * width..(t * batch + r.end) * width]
            .copy_from_slice(&part[t * n..(t + 1) * n]);
    }
}

impl FusedRecurrence {
    /// Blocks of rows, one per thread, at least `MIN_ROWS` rows each.
    pub(super) fn blocks(&self) -> Vec<Range<usize>> {
        const MIN_ROWS: usize = 4;
        let n = rayon::current_num_threads()
            .min(self.batch / MIN_ROWS)
            .max(1);
        (0..n)
            .map(|i| i * self.batch / n..(i + 1) * self.batch / n)
            .collect()
    }

    /// The op on rows `r` only.
    fn part(&self, r: &Range<usize>) -> FusedRecurrence {
        FusedRecurrence {
            batch: r.len(),
            ..*self
        }
    }

    /// `aux` of rows `r`: `h0`, `c0`, `b_hh` (whole) and the mask.
    fn take_aux<T: Copy>(&self, aux: &[T], r: &Range<usize>) -> Vec<T> {
        let (b, h) = (self.batch, self.hidden);
        let (h0, c0, b_hh, mask) = self.unpack(aux);
        let mut out = take(h0, (1, b, h), r);
        if self.kind.has_c() {
            out.extend(take(c0, (1, b, h), r));
        }
        out.extend_from_slice(b_hh);
        out.extend(take(mask, (self.time, b, 1), r));
        out
    }

    /// [`FusedRecurrence::forward`] with the rows split over threads.
    pub(super) fn forward_split<T: Float + Send + Sync + 'static>(
        &self,
        gi: &[T],
        w: &[T],
        aux: &[T],
    ) -> Vec<T> {
        let blocks = self.blocks();
        if blocks.len() == 1 {
            return self.forward(gi, w, aux);
        }
        // Here, not first inside the broadcast: its first call broadcasts too.
        seq_core::ensure_flush_denormals();
        let g = self.kind.gates() * self.hidden;
        let parts: Vec<Vec<T>> = rayon::broadcast(|ctx| {
            seq_core::ensure_flush_denormals();
            let Some(r) = blocks.get(ctx.index()) else {
                return Vec::new();
            };
            let gi = take(gi, (self.time, self.batch, g), r);
            self.part(r).forward(&gi, w, &self.take_aux(aux, r))
        });
        let width = self.kind.slots() * self.hidden;
        let mut out = vec![T::zero(); self.time * self.batch * width];
        for (r, part) in blocks.iter().zip(&parts) {
            put(&mut out, part, (self.time, self.batch, width), r);
        }
        out
    }

    /// [`FusedRecurrence::backward`] with the rows split over threads: each
    /// block goes back through time on its own, then the sums over rows and
    /// steps run once over the whole batch, in the same order as without
    /// the split (so the result is the same to the last bit).
    pub(super) fn backward_split<T: Float + Send + Sync + 'static>(
        &self,
        w: &[T],
        aux: &[T],
        out: &[T],
        dout: &[T],
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let blocks = self.blocks();
        if blocks.len() == 1 {
            return self.backward(w, aux, out, dout);
        }
        seq_core::ensure_flush_denormals();
        let (b, h, g) = (self.batch, self.hidden, self.kind.gates() * self.hidden);
        let width = self.kind.slots() * h;
        let parts = rayon::broadcast(|ctx| {
            seq_core::ensure_flush_denormals();
            let r = blocks.get(ctx.index())?;
            let shape = (self.time, b, width);
            let (out, dout) = (take(out, shape, r), take(dout, shape, r));
            Some(
                self.part(r)
                    .through_time(w, &self.take_aux(aux, r), &out, &dout),
            )
        });
        let zeros = |n: usize| vec![T::zero(); n];
        let mut all = Bptt {
            dgi: zeros(self.time * b * g),
            dgh: zeros(self.time * b * g),
            h_prev: zeros(self.time * b * h),
            dh: zeros(b * h),
            dc: zeros(if self.kind.has_c() { b * h } else { 0 }),
        };
        for (r, part) in blocks.iter().zip(parts.into_iter().flatten()) {
            put(&mut all.dgi, &part.dgi, (self.time, b, g), r);
            put(&mut all.dgh, &part.dgh, (self.time, b, g), r);
            put(&mut all.h_prev, &part.h_prev, (self.time, b, h), r);
            put(&mut all.dh, &part.dh, (1, b, h), r);
            if self.kind.has_c() {
                put(&mut all.dc, &part.dc, (1, b, h), r);
            }
        }
        self.reduce(all)
    }
}

#[cfg(test)]
mod tests {
    use seq_core::{Activation, Rng};

    use super::super::{FusedRecurrence, Kind};

    fn random(rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| rng.normal()).collect()
    }

    /// Blocks of rows on three threads give exactly what one pass over the
    /// whole batch gives, forward and backward, for every cell and
    /// direction, with padded steps.
    #[test]
    fn split_rows_match_the_whole_batch() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for kind in [Kind::Rnn(Activation::Tanh), Kind::Lstm, Kind::Gru] {
            for reverse in [false, true] {
                let op = FusedRecurrence {
                    kind,
                    time: 5,
                    batch: 13,
                    hidden: 3,
                    reverse,
                };
                assert_eq!(pool.install(|| op.blocks()).len(), 3);
                let mut rng = Rng::new(7);
                let g = kind.gates() * op.hidden;
                let gi = random(&mut rng, op.time * op.batch * g);
                let w = random(&mut rng, g * op.hidden);
                let mut aux = random(&mut rng, op.aux_len());
                let mask_at = aux.len() - op.time * op.batch;
                for (i, m) in aux[mask_at..].iter_mut().enumerate() {
                    *m = if i % 7 == 3 { 0.0 } else { 1.0 };
                }
                let whole = op.forward(&gi, &w, &aux);
                let split = pool.install(|| op.forward_split(&gi, &w, &aux));
                let dout = random(&mut rng, whole.len());
                let (a, b) = (
                    op.backward(&w, &aux, &whole, &dout),
                    pool.install(|| op.backward_split(&w, &aux, &whole, &dout)),
                );
                let close = |x: &[f64], y: &[f64]| x == y; // to the last bit
                assert!(close(&whole, &split), "{kind:?} reverse {reverse}: forward");
                assert!(close(&a.0, &b.0), "{kind:?} reverse {reverse}: d gi");
                assert!(close(&a.1, &b.1), "{kind:?} reverse {reverse}: d W_hh");
                assert!(close(&a.2, &b.2), "{kind:?} reverse {reverse}: d aux");
            }
        }
    }
}
