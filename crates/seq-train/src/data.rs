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

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
        // One queue of parts and one of batches per worker. With a single
        // worker it reads the parts itself.
        let parts_in: Vec<Queue<Result<S::Part>>> =
            (0..workers).map(|_| Queue::new(self.prefetch)).collect();
        let batches_out: Vec<Queue<Result<S::Batch>>> =
            (0..workers).map(|_| Queue::new(self.prefetch)).collect();
        let mut parts = Some(parts);
        std::thread::scope(|scope| {
            for (parts_in, out) in parts_in.iter().zip(&batches_out) {
                let mut own = if workers == 1 { parts.take() } else { None };
                scope.spawn(move || {
                    let _done = out.sender();
                    let _gone = parts_in.receiver();
                    loop {
                        let part = match own.as_mut() {
                            Some(parts) => parts.next(),
                            None => parts_in.recv(),
                        };
                        let Some(part) = part else { break };
                        if !out.send(part.and_then(|p| source.make(p))) {
                            break; // training stopped
                        }
                    }
                });
            }
            if let Some(parts) = parts.take() {
                // Part i goes to worker i % workers; reading the workers in
                // turn gives the batches back in order.
                let parts_in = &parts_in;
                scope.spawn(move || {
                    let _done: Vec<_> = parts_in.iter().map(Queue::sender).collect();
                    for (i, part) in parts.enumerate() {
                        if !parts_in[i % workers].send(part) {
                            break;
                        }
                    }
                });
            }
            let _gone: Vec<_> = batches_out.iter().map(Queue::receiver).collect();
            let mut wait = Duration::ZERO;
            for i in 0.. {
                let start = Instant::now();
                let next = batches_out[i % workers].recv();
                wait += start.elapsed();
                let Some(batch) = next else {
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

/// A bounded queue between the loader's threads. Waiting threads sleep on
/// a condition variable (no spinning, so they take no time from the
/// threads that compute); dropping the guard of either side ends it.
struct Queue<T> {
    state: Mutex<QueueState<T>>,
    changed: Condvar,
    capacity: usize,
}

struct QueueState<T> {
    items: VecDeque<T>,
    senders_done: bool,
    receiver_gone: bool,
}

/// Ends a queue's sending (`send_side`) or receiving side when dropped.
struct Guard<'a, T> {
    queue: &'a Queue<T>,
    send_side: bool,
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        let mut s = self.queue.lock();
        match self.send_side {
            true => s.senders_done = true,
            false => s.receiver_gone = true,
        }
        self.queue.changed.notify_all();
    }
}

impl<T> Queue<T> {
    fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                senders_done: false,
                receiver_gone: false,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The guard of the sending side: dropped, the receiver sees the end.
    fn sender(&self) -> Guard<'_, T> {
        Guard {
            queue: self,
            send_side: true,
        }
    }

    /// The guard of the receiving side: dropped, senders stop.
    fn receiver(&self) -> Guard<'_, T> {
        Guard {
            queue: self,
            send_side: false,
        }
    }

    /// Waits for room and puts `item` in; false once the receiver is gone.
    fn send(&self, item: T) -> bool {
        let mut s = self.lock();
        while s.items.len() >= self.capacity && !s.receiver_gone {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.receiver_gone {
            return false;
        }
        s.items.push_back(item);
        self.changed.notify_all();
        true
    }

    /// Waits for an item; `None` once the queue is empty and its sender done.
    fn recv(&self) -> Option<T> {
        let mut s = self.lock();
        loop {
            if let Some(item) = s.items.pop_front() {
                self.changed.notify_all();
                return Some(item);
            }
            if s.senders_done {
                return None;
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
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
