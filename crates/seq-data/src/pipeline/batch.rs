//! [`Batcher`]: batches of examples in a seeded order, optionally bucketed
//! by length and prepared on a background thread.

use std::sync::mpsc;
use std::thread;

use seq_core::Rng;

/// How to batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BatcherConfig {
    /// Examples per batch.
    pub batch_size: usize,
    /// Shuffle the examples (and the batches) with this seed; `None` keeps
    /// the order (default `Some(0)`).
    pub shuffle: Option<u64>,
    /// Drop a last, smaller batch (default false).
    pub drop_last: bool,
    /// Group examples of similar length into batches (to cut padding),
    /// sorting within pools of `bucket * batch_size` examples; 0 turns it
    /// off (default 0).
    pub bucket: usize,
    /// Batches prepared ahead on a background thread; 0 prepares them in
    /// line (default 2).
    pub prefetch: usize,
}

impl BatcherConfig {
    /// Batches of `batch_size`, shuffled with seed 0, no bucketing, 2 prefetched.
    pub fn new(batch_size: usize) -> Self {
        BatcherConfig {
            batch_size,
            shuffle: Some(0),
            drop_last: false,
            bucket: 0,
            prefetch: 2,
        }
    }

    /// With the order shuffled by `seed`, or kept with `None` (default `Some(0)`).
    pub fn with_shuffle(mut self, seed: Option<u64>) -> Self {
        self.shuffle = seed;
        self
    }

    /// With a last, smaller batch dropped or kept (default kept).
    pub fn with_drop_last(mut self, yes: bool) -> Self {
        self.drop_last = yes;
        self
    }

    /// With examples of similar length batched together, sorted within
    /// pools of `bucket` batches (default 0: off).
    pub fn with_bucket(mut self, bucket: usize) -> Self {
        self.bucket = bucket;
        self
    }

    /// With `n` batches prepared ahead on a background thread (default 2;
    /// 0 prepares them in line).
    pub fn with_prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }
}

/// Splits example indices into batches; see [`BatcherConfig`].
///
/// ```
/// use seq_data::pipeline::{Batcher, BatcherConfig};
///
/// // Ten examples of these lengths, 4 per batch, similar lengths together.
/// let lengths = [3, 9, 4, 8, 2, 7, 9, 3, 8, 1];
/// let batcher = Batcher::new(BatcherConfig::new(4).with_bucket(10).with_shuffle(Some(7)));
/// let plan = batcher.plan(&lengths, 0);
/// assert_eq!(plan.iter().map(Vec::len).sum::<usize>(), 10); // every example once
/// assert_eq!(plan, batcher.plan(&lengths, 0)); // the same order for the same epoch
/// // Make the batches (here the longest length of each) on a background thread.
/// let longest: Vec<usize> = batcher
///     .iter(&lengths, 1, move |ids| ids.iter().map(|&i| lengths[i]).max().unwrap())
///     .collect();
/// assert_eq!(longest.len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Batcher {
    config: BatcherConfig,
}

impl Batcher {
    /// A batcher.
    pub fn new(config: BatcherConfig) -> Self {
        Batcher {
            config: BatcherConfig {
                batch_size: config.batch_size.max(1),
                ..config
            },
        }
    }

    /// The batches of example indices for `epoch`; `lengths[i]` is example
    /// `i`'s length (used for bucketing).
    pub fn plan(&self, lengths: &[usize], epoch: u64) -> Vec<Vec<usize>> {
        let c = &self.config;
        let mut idx: Vec<usize> = (0..lengths.len()).collect();
        let mut rng = c
            .shuffle
            .map(|s| Rng::new(s ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        if let Some(r) = rng.as_mut() {
            r.shuffle(&mut idx);
        }
        if c.bucket > 0 {
            for pool in idx.chunks_mut(c.bucket.saturating_mul(c.batch_size)) {
                pool.sort_by_key(|&i| lengths[i]);
            }
        }
        let mut batches: Vec<Vec<usize>> =
            idx.chunks(c.batch_size).map(<[usize]>::to_vec).collect();
        if c.drop_last && batches.last().is_some_and(|b| b.len() < c.batch_size) {
            batches.pop();
        }
        if let (Some(r), true) = (rng.as_mut(), c.bucket > 0) {
            r.shuffle(&mut batches);
        }
        batches
    }

    /// Makes every batch of the plan with `make` (indices to, e.g., tensors),
    /// `prefetch` batches ahead on a background thread.
    pub fn iter<T, F>(&self, lengths: &[usize], epoch: u64, make: F) -> Box<dyn Iterator<Item = T>>
    where
        T: Send + 'static,
        F: Fn(&[usize]) -> T + Send + 'static,
    {
        let plan = self.plan(lengths, epoch);
        if self.config.prefetch == 0 {
            return Box::new(plan.into_iter().map(move |b| make(&b)));
        }
        // The channel's buffer is allocated up front: never more slots than
        // there are batches, whatever `prefetch` says.
        let (tx, rx) = mpsc::sync_channel(self.config.prefetch.min(plan.len()));
        thread::spawn(move || {
            for b in plan {
                if tx.send(make(&b)).is_err() {
                    break; // the consumer stopped
                }
            }
        });
        Box::new(rx.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_once_in_a_seeded_order() {
        let lengths: Vec<usize> = (0..103).map(|i| i % 17).collect();
        let b = Batcher::new(BatcherConfig {
            bucket: 4,
            ..BatcherConfig::new(10)
        });
        let plan = b.plan(&lengths, 1);
        let mut all: Vec<usize> = plan.concat();
        all.sort();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        assert_eq!(plan, b.plan(&lengths, 1));
        assert_ne!(plan, b.plan(&lengths, 2));
        let dropped = Batcher::new(BatcherConfig {
            drop_last: true,
            ..BatcherConfig::new(10)
        })
        .plan(&lengths, 0);
        assert!(dropped.iter().all(|x| x.len() == 10) && dropped.len() == 10);
        // Prefetched batches arrive in the planned order.
        let sums: Vec<usize> = b.iter(&lengths, 1, |ix| ix.iter().sum()).collect();
        assert_eq!(
            sums,
            plan.iter().map(|x| x.iter().sum()).collect::<Vec<usize>>()
        );
    }

    #[test]
    fn bucketing_cuts_padding() {
        let mut rng = Rng::new(3);
        let lengths: Vec<usize> = (0..2000).map(|_| 1 + rng.below(60)).collect();
        let padding = |plan: &[Vec<usize>]| -> usize {
            plan.iter()
                .map(|b| {
                    b.iter().map(|&i| lengths[i]).max().unwrap_or(0) * b.len()
                        - b.iter().map(|&i| lengths[i]).sum::<usize>()
                })
                .sum()
        };
        let plain = padding(&Batcher::new(BatcherConfig::new(32)).plan(&lengths, 0));
        let bucketed = padding(
            &Batcher::new(BatcherConfig {
                bucket: 8,
                ..BatcherConfig::new(32)
            })
            .plan(&lengths, 0),
        );
        assert!(bucketed * 3 < plain, "bucketed {bucketed} vs plain {plain}");
    }
}
