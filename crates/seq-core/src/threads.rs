//! Running independent blocks of work on candle's CPU thread pool.
//!
//! seq's CPU kernels (the fused recurrence, the fused convolution) split a
//! batch into blocks and run one per thread. They use candle's own pool,
//! whose workers spin for a while after each of candle's ops: a second pool
//! (rayon's) would compete with them for the cores.

use std::sync::Mutex;

/// Threads a batch is split over: candle's CPU workers and the caller.
pub fn count() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// `len` items in at most [`count`] contiguous blocks of at least
/// `min_len` items each (one block when `len < 2 * min_len`).
pub fn blocks(len: usize, min_len: usize) -> Vec<std::ops::Range<usize>> {
    let n = count().min(len / min_len.max(1)).max(1);
    (0..n).map(|i| i * len / n..(i + 1) * len / n).collect()
}

/// The most partial sums [`shares`] cuts a batch into.
pub const MAX_SHARES: usize = 16;

/// How a kernel that sums over a batch (a weight gradient) splits it so
/// that the sum has the same bits on any number of threads: the batch is cut
/// into shares whose size depends on `len` alone (at least `min_len` items,
/// at most [`MAX_SHARES`] shares); the kernel sums each share on its own and
/// adds the shares in order. The blocks (one job per thread, at most
/// [`count`]) are runs of whole shares. Returns the share size and the
/// blocks.
pub fn shares(len: usize, min_len: usize) -> (usize, Vec<std::ops::Range<usize>>) {
    let size = len.div_ceil(MAX_SHARES).max(min_len).max(1);
    let n_shares = len.div_ceil(size);
    let n = count().min(n_shares).max(1);
    let at = |i: usize| (i * n_shares / n * size).min(len);
    (size, (0..n).map(|i| at(i)..at(i + 1)).collect())
}

/// Runs `run` once on each job, the jobs spread over candle's CPU pool
/// (on the calling thread alone when there is one job), each thread inside
/// a [`crate::FlushScope`] while it runs jobs.
pub fn run_each<J: Send>(jobs: Vec<J>, run: impl Fn(J) + Sync) {
    let _mode = crate::FlushScope::enter();
    if jobs.len() == 1 {
        return jobs.into_iter().for_each(run);
    }
    let slots: Vec<Mutex<Option<J>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    candle_core::utils::barrier_pool().execute_chunked(slots.len(), |range| {
        let _mode = crate::FlushScope::enter();
        for slot in &slots[range] {
            let job = slot.lock().ok().and_then(|mut s| s.take());
            if let Some(job) = job {
                run(job);
            }
        }
    });
}

/// A block of a kernel's work whose `run` is `#[inline(always)]`, so that
/// [`run_jobs`] can compile it for the CPU features it enables.
pub trait Job {
    /// Does the work.
    fn run(self);
}

/// Runs the jobs as [`run_each`] does, each compiled for AVX2 and FMA when
/// `T::simd()` holds (f32 on a CPU that has them).
pub fn run_jobs<T: crate::cpu::Float, J: Job + Send>(jobs: Vec<J>) {
    run_each(jobs, run_one::<T, J>);
}

fn run_one<T: crate::cpu::Float, J: Job>(job: J) {
    #[cfg(target_arch = "x86_64")]
    if T::simd() {
        // SAFETY: `simd()` checked that this CPU has AVX2 and FMA.
        return unsafe { run_simd(job) };
    }
    job.run()
}

/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_simd<J: Job>(job: J) {
    job.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_range_in_order() {
        for (len, min) in [(0, 4), (3, 4), (32, 4), (33, 1), (7, 0)] {
            let b = blocks(len, min);
            assert!(!b.is_empty() && b.len() <= count());
            assert_eq!((b[0].start, b[b.len() - 1].end), (0, len));
            assert!(b.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn shares_depend_on_the_length_alone_and_blocks_hold_whole_shares() {
        for (len, min) in [(0, 4), (3, 4), (32, 4), (33, 1), (100, 4), (1000, 8)] {
            let (size, b) = shares(len, min);
            assert!(size >= min && len.div_ceil(size) <= MAX_SHARES.max(1));
            assert_eq!((b[0].start, b[b.len() - 1].end), (0, len));
            assert!(b
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].end % size == 0));
        }
    }

    #[test]
    fn every_job_runs_once() {
        let seen = Mutex::new(Vec::new());
        run_each((0..5).collect(), |j: usize| seen.lock().unwrap().push(j));
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }
}
