//! From records to batches: padding, splits, windows, batching.

mod batch;
mod pad;
mod split;
mod windows;

pub use batch::{Batcher, BatcherConfig};
pub use pad::{pad_sequences, Padded, Side};
pub use split::{split_indices, split_stratified};
pub use windows::{Normalizer, Windows};
