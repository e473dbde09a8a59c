//! Readers for the common public layouts. Each returns typed records, or an
//! error naming the file, line and (where known) column of the first
//! malformed input; nothing is skipped silently.

pub mod text;
pub mod timeseries;
pub mod ucr;
