//! Working memory reused from one call of the op to the next.
//!
//! The op's large buffers (the input projection, the saved gates, the gate
//! gradients: megabytes per call) are written in full before they are
//! read. Fresh from the allocator, every page of them is a page fault on
//! first touch, and on the virtual machines we measure on faults cost more
//! than the arithmetic: an LSTM `[32,100,64] -> 128` step spent a quarter
//! of its time in them. A few buffers are kept here instead.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use super::math::Real;

/// Buffers kept per element type; more are freed.
const KEEP: usize = 8;

/// A buffer that goes back to its pool when dropped. Its contents when
/// taken are unspecified: the caller writes every element before reading.
pub(crate) struct Buffer<T: Real> {
    data: Vec<T>,
}

/// A buffer of `len` elements, from the pool when one is large enough
/// (the smallest such), else newly allocated.
pub(crate) fn buffer<T: Real>(len: usize) -> Buffer<T> {
    let reused = {
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        let best = (0..pool.len())
            .filter(|&i| pool[i].capacity() >= len)
            .min_by_key(|&i| pool[i].capacity());
        best.map(|i| pool.swap_remove(i))
    };
    let mut data = reused.unwrap_or_default();
    if data.len() >= len {
        data.truncate(len);
    } else {
        data.resize(len, T::zero());
    }
    Buffer { data }
}

impl<T: Real> Drop for Buffer<T> {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        if data.capacity() == 0 {
            return;
        }
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        pool.push(data);
        if pool.len() > KEEP {
            // Free the smallest: the large ones are the ones worth keeping.
            let smallest = (0..pool.len()).min_by_key(|&i| pool[i].capacity());
            smallest.map(|i| pool.swap_remove(i));
        }
    }
}

impl<T: Real> Deref for Buffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.data
    }
}

impl<T: Real> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
}

/// The pool of each element type.
pub(crate) fn pool_f32() -> &'static Mutex<Vec<Vec<f32>>> {
    static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
    &POOL
}

pub(crate) fn pool_f64() -> &'static Mutex<Vec<Vec<f64>>> {
    static POOL: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());
    &POOL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_have_the_asked_length_and_are_reused() {
        // No other unit test of this crate takes buffers.
        let a = buffer::<f64>(1000);
        assert_eq!(a.len(), 1000);
        let ptr = a.as_ptr();
        drop(a);
        let b = buffer::<f64>(999);
        assert_eq!((b.len(), b.as_ptr()), (999, ptr));
        let c = buffer::<f64>(5000); // larger than any kept: a new one
        assert_eq!(c.len(), 5000);
        assert_ne!(c.as_ptr(), ptr);
        drop(b);
        drop(c);
        let kept = pool_f64().lock().unwrap().len();
        assert_eq!(kept, 2);
    }
}
