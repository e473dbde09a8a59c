//! Seeded randomness: [`Rng`] behind initialisation and shuffling, and the
//! counter-based hashes behind dropout masks.
//!
//! candle cannot seed its CPU generator (`Device::set_seed` fails there), so
//! seq draws every random number it needs itself: a stream from [`Rng`]
//! (xoshiro256**, Blackman & Vigna, 2018, seeded through SplitMix64), or,
//! for masks drawn element by element in parallel, [`hash_keep`] of a key
//! ([`hash64`] of seed, step and draw) and the element's position. The same
//! seed gives the same weights and dropout masks on every machine and
//! device, whatever the number of threads.

use std::cell::Cell;

thread_local! {
    static STEP: Cell<u64> = const { Cell::new(0) };
    static ROW_OFFSET: Cell<u64> = const { Cell::new(0) };
}

/// Sets, for this thread, the global position of the first row of the
/// batches drawn from now on: when several processes each train on a share
/// of one global batch, a mask entry is then a hash of its row in the
/// global batch, and the ranks together drop what one process would. The
/// trainer sets it for each step of a distributed run (0 otherwise).
pub fn set_row_offset(rows: u64) {
    ROW_OFFSET.with(|r| r.set(rows));
}

/// This thread's row offset, as set by [`set_row_offset`] (0 until then).
pub fn row_offset() -> u64 {
    ROW_OFFSET.with(Cell::get)
}

/// Sets, for this thread, the training step that seeds the random masks
/// drawn from now on (dropout): the same seed and step give the same masks,
/// so a run resumed from a checkpoint at step `n` draws what the
/// uninterrupted run drew. The trainer calls this before every step; runs
/// on other threads are not affected.
pub fn set_step(step: u64) {
    STEP.with(|s| s.set(step));
}

/// This thread's step, as set by [`set_step`] (0 until then).
pub fn step() -> u64 {
    STEP.with(Cell::get)
}

/// Whether entry `index` of the mask `key` is kept with probability
/// `keep`: 32 random bits from MurmurHash3's finaliser (32-bit products,
/// so the mask loops vectorise) against `keep * 2^32`.
#[inline(always)]
pub fn hash_keep(key: u64, index: u64, keep: f64) -> bool {
    let mix = |mut h: u32| {
        h ^= h >> 16;
        h = h.wrapping_mul(0x85EB_CA6B);
        h ^= h >> 13;
        h = h.wrapping_mul(0xC2B2_AE35);
        h ^ (h >> 16)
    };
    let stream = (key ^ (key >> 32) ^ (index >> 32).wrapping_mul(0x9E37_79B9)) as u32;
    let bits = mix(mix(index as u32 ^ stream).wrapping_add(stream));
    f64::from(bits) < keep * 4_294_967_296.0
}

/// 64 random bits for `index` in stream `key` (SplitMix64's finaliser).
#[inline(always)]
pub fn hash64(key: u64, index: u64) -> u64 {
    let mut x = key ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A seeded xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform draw from `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform draw from `[lo, hi)`.
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: log stays finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }

    /// Shuffles a slice in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }

    /// A new generator split off this one, for an independent stream.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn moments_of_uniform_and_normal() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let u: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var = |v: &[f64]| {
            let m = mean(v);
            v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64
        };
        // U(0,1): mean 1/2, variance 1/12; N(0,1): mean 0, variance 1.
        assert!((mean(&u) - 0.5).abs() < 5e-3);
        assert!((var(&u) - 1.0 / 12.0).abs() < 2e-3);
        assert!(mean(&z).abs() < 1e-2);
        assert!((var(&z) - 1.0).abs() < 2e-2);
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
