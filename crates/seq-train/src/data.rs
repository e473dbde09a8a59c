//! Where the trainer's batches come from: a [`DataSource`] names the
//! batches of an epoch ([`DataSource::parts`], cheap: row indices, raw
//! records read from a stream) and makes each one ([`DataSource::make`]:
//! tokenise, pad, build tensors). The trainer makes batches on background
//! threads while the model trains ([`Loader`]), in order, a bounded number
//! ahead, and counts the time it waits for them.
//!
//! A source derives everything random from the run's seed and the epoch,
//! so two runs with one seed see the same batches and a resumed run, which
//! skips the parts it already trained on, repeats the uninterrupted one.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use seq_core::Rng;

use crate::{Error, Result};

/// The parts of one epoch, in training order.
pub type Parts<'a, P> = Box<dyn Iterator<Item = Result<P>> + Send + 'a>;

/// What [`Trainer::fit`](crate::Trainer::fit) trains on.
///
/// In-memory batches are a source as they are (`&[B]`, `&Vec<B>`: the
/// same batches every epoch, in an order shuffled per epoch); [`Planned`]
/// makes new batches every epoch from a plan (batch membership reshuffled,
/// length buckets redrawn); a streaming reader is a source whose parts are
/// records read from disk.
pub trait DataSource: Sync {
    /// What a training step takes.
    type Batch: Send;
    /// What names one batch before it is made.
    type Part: Send;

    /// The parts of epoch `epoch` (0-based) in training order. `seed` is
    /// the run's seed; the parts must depend on `(seed, epoch)` alone.
    fn parts(&self, epoch: usize, seed: u64) -> Result<Parts<'_, Self::Part>>;

    /// Makes the batch `part` names (on a worker thread).
    fn make(&self, part: Self::Part) -> Result<Self::Batch>;

    /// Batches per epoch, when known in advance (for the progress bar).
    fn len_hint(&self) -> Option<usize> {
        None
    }
}

/// The order of `n` fixed batches in `epoch`: a permutation drawn from the
/// seed and the epoch.
fn shuffled(n: usize, epoch: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed ^ (epoch as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)).shuffle(&mut order);
    order
}

impl<B: Clone + Send + Sync> DataSource for [B] {
    type Batch = B;
    type Part = usize;

    fn parts(&self, epoch: usize, seed: u64) -> Result<Parts<'_, usize>> {
        Ok(Box::new(
            shuffled(self.len(), epoch, seed).into_iter().map(Ok),
        ))
    }

    fn make(&self, part: usize) -> Result<B> {
        Ok(self[part].clone())
    }

    fn len_hint(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl<B: Clone + Send + Sync> DataSource for Vec<B> {
    type Batch = B;
    type Part = usize;

    fn parts(&self, epoch: usize, seed: u64) -> Result<Parts<'_, usize>> {
        self.as_slice().parts(epoch, seed)
    }

    fn make(&self, part: usize) -> Result<B> {
        self.as_slice().make(part)
    }

    fn len_hint(&self) -> Option<usize> {
        Some(self.len())
    }
}

/// A source made of two functions: `plan(epoch, seed)` lists the epoch's
/// parts (e.g. `seq_data::pipeline::Batcher::plan`: example indices per
/// batch, reshuffled and rebucketed every epoch) and `make(part)` builds a
/// batch from one.
pub struct Planned<P, F, M> {
    plan: F,
    make: M,
    _part: std::marker::PhantomData<fn() -> P>,
}

impl<P, F, M> Planned<P, F, M> {
    /// The source of `plan` and `make`.
    pub fn new(plan: F, make: M) -> Self {
        Planned {
            plan,
            make,
            _part: std::marker::PhantomData,
        }
    }
}

impl<P, B, F, M> DataSource for Planned<P, F, M>
where
    P: Send,
    B: Send,
    F: Fn(usize, u64) -> Result<Vec<P>> + Sync,
    M: Fn(P) -> Result<B> + Sync,
{
    type Batch = B;
    type Part = P;

    fn parts(&self, epoch: usize, seed: u64) -> Result<Parts<'_, P>> {
        Ok(Box::new((self.plan)(epoch, seed)?.into_iter().map(Ok)))
    }

    fn make(&self, part: P) -> Result<B> {
        (self.make)(part)
    }
}

/// A source whose parts are read as they are needed: `stream(epoch, seed)`
/// opens the epoch's stream (e.g. `seq_data::stream` records through a
/// shuffle buffer and length buckets, seeded from `seed` and `epoch`) and
/// `make(part)` builds a batch from one part. Nothing is held whole.
pub struct Streamed<F, M> {
    stream: F,
    make: M,
}

impl<F, M> Streamed<F, M> {
    /// The source of `stream` and `make`.
    pub fn new(stream: F, make: M) -> Self {
        Streamed { stream, make }
    }
}

impl<P, B, I, F, M> DataSource for Streamed<F, M>
where
    P: Send,
    B: Send,
    I: Iterator<Item = Result<P>> + Send + 'static,
    F: Fn(usize, u64) -> Result<I> + Sync,
    M: Fn(P) -> Result<B> + Sync,
{
    type Batch = B;
    type Part = P;

    fn parts(&self, epoch: usize, seed: u64) -> Result<Parts<'_, P>> {
        Ok(Box::new((self.stream)(epoch, seed)?))
    }

    fn make(&self, part: P) -> Result<B> {
        (self.make)(part)
    }
}

/// How the trainer gets batches from a source: how many threads make them
/// and how many may wait ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loader {
    /// Threads that make batches (default 1); with more, batches are made
    /// in parallel and still delivered in order.
    pub workers: usize,
    /// Batches made ahead of the training step, per worker (default 2);
    /// 0 makes each batch on the training thread when it is needed.
    pub prefetch: usize,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            workers: 1,
            prefetch: 2,
        }
    }
}

impl Loader {
    /// Runs `step` on the batches of `epoch` after the first `skip` and
    /// before `limit` (all when `None`), in order, until it returns false.
    /// Returns the time the training thread waited for batches.
    pub(crate) fn run<S: DataSource + ?Sized>(
        &self,
        source: &S,
        (epoch, seed, skip, limit): (usize, u64, usize, Option<usize>),
        mut step: impl FnMut(S::Batch) -> Result<bool>,
    ) -> Result<Duration> {
        let take = limit.map_or(usize::MAX, |l| l.saturating_sub(skip));
        let mut parts = source.parts(epoch, seed)?.skip(skip).take(take);
        if self.prefetch == 0 {
            let mut wait = Duration::ZERO;
            loop {
                let start = Instant::now();
                let batch = match parts.next() {
                    None => return Ok(wait),
                    Some(part) => source.make(part?)?,
                };
                wait += start.elapsed();
                if !step(batch)? {
                    return Ok(wait);
                }
            }
        }
        let workers = self.workers.max(1);
        std::thread::scope(|scope| {
            let mut to_workers = Vec::with_capacity(workers);
            let mut from_workers = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tx_part, rx_part) = mpsc::sync_channel::<Result<S::Part>>(self.prefetch);
                let (tx_batch, rx_batch) = mpsc::sync_channel::<Result<S::Batch>>(self.prefetch);
                scope.spawn(move || {
                    for part in rx_part {
                        if tx_batch.send(part.and_then(|p| source.make(p))).is_err() {
                            break; // training stopped
                        }
                    }
                });
                to_workers.push(tx_part);
                from_workers.push(rx_batch);
            }
            // Part i goes to worker i % workers; reading the workers in
            // turn gives the batches back in order.
            scope.spawn(move || {
                for (i, part) in parts.enumerate() {
                    if to_workers[i % workers].send(part).is_err() {
                        break;
                    }
                }
            });
            let mut wait = Duration::ZERO;
            for i in 0.. {
                let start = Instant::now();
                let next = from_workers[i % workers].recv();
                wait += start.elapsed();
                let Ok(batch) = next else {
                    break; // no more parts
                };
                if !step(batch?)? {
                    break; // the trainer stops
                }
            }
            Ok::<_, Error>(wait)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<S: DataSource + ?Sized>(loader: Loader, s: &S, skip: usize) -> Vec<S::Batch> {
        let mut out = Vec::new();
        loader
            .run(s, (0, 7, skip, None), |b| {
                out.push(b);
                Ok(true)
            })
            .unwrap();
        out
    }

    #[test]
    fn every_loader_gives_the_same_batches_in_the_same_order() {
        let data: Vec<u32> = (0..23).collect();
        let inline = collect(
            Loader {
                workers: 1,
                prefetch: 0,
            },
            &data,
            0,
        );
        assert_eq!(inline.len(), 23);
        for (workers, prefetch) in [(1, 2), (3, 1), (4, 5)] {
            assert_eq!(collect(Loader { workers, prefetch }, &data, 0), inline);
            assert_eq!(collect(Loader { workers, prefetch }, &data, 5), inline[5..]);
        }
    }

    #[test]
    fn an_error_making_a_batch_stops_the_epoch() {
        let source = Planned::new(
            |_, _| Ok((0..10).collect()),
            |p: usize| match p {
                4 => Err(Error::Config("batch 4 is broken".into())),
                p => Ok(p),
            },
        );
        for loader in [
            Loader {
                workers: 1,
                prefetch: 0,
            },
            Loader {
                workers: 3,
                prefetch: 2,
            },
        ] {
            let mut seen = Vec::new();
            let err = loader
                .run(&source, (0, 0, 0, None), |b| {
                    seen.push(b);
                    Ok(true)
                })
                .unwrap_err();
            assert!(err.to_string().contains("batch 4"), "{err}");
            assert_eq!(seen, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn a_step_that_fails_stops_the_threads() {
        let data: Vec<u32> = (0..1000).collect();
        let mut n = 0;
        let err = Loader {
            workers: 2,
            prefetch: 1,
        }
        .run(&data, (0, 0, 0, None), |_| {
            n += 1;
            match n {
                3 => Err(Error::Config("stop".into())),
                _ => Ok(true),
            }
        });
        assert!(err.is_err());
    }
}
