//! Readers for the common public layouts. Each returns typed records, or an
//! error naming the file, line and (where known) column of the first
//! malformed input; nothing is skipped silently.

pub mod text;
pub mod timeseries;
pub mod ucr;

/// `s` as a finite number; `None` for anything else (text, NaN, infinity,
/// a value beyond the type's range).
pub(crate) fn finite<T: std::str::FromStr + num_traits::Float>(s: &str) -> Option<T> {
    s.parse::<T>().ok().filter(|v| v.is_finite())
}
