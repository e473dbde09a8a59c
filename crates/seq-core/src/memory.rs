//! Sizes that come from files, configurations and options, made safe: their
//! products are checked for overflow and their buffers allocated fallibly,
//! so a hostile size is an error that names it instead of a wrapped number,
//! a panic or an abort of the whole process on a failed allocation.

use crate::{Error, Result};

/// The product of `dims`, or an error naming `what` when it overflows.
pub fn elements(what: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Error::config(what, format!("a size of {dims:?} overflows")))
}

/// An empty vector with room for `n` values, or an error naming `what` when
/// that memory cannot be had (the allocation fails instead of aborting).
pub fn with_capacity<T>(what: &str, n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        let bytes = (n as u128) * std::mem::size_of::<T>() as u128;
        Error::config(what, format!("cannot allocate {n} values ({bytes} bytes)"))
    })?;
    Ok(v)
}

/// `n` copies of `value`, allocated as [`with_capacity`] does.
pub fn filled<T: Clone>(what: &str, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = with_capacity(what, n)?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_and_impossible_sizes_are_errors_naming_them() {
        assert_eq!(elements("x", &[3, 4, 5]).unwrap(), 60);
        let err = elements("Embedding", &[usize::MAX / 2, 3]).unwrap_err();
        assert!(err.to_string().starts_with("Embedding: "), "{err}");
        let err = with_capacity::<f64>("vectors", usize::MAX / 16).unwrap_err();
        assert!(err.to_string().contains("cannot allocate"), "{err}");
        assert_eq!(filled("x", 3, 7u8).unwrap(), [7, 7, 7]);
    }
}
