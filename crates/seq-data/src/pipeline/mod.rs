//! From records to batches: padding, splits, windows, batching; the
//! Naive-Bayes weights of a bag of words.

mod batch;
mod naive_bayes;
mod pad;
mod split;
mod windows;

pub use batch::{Batcher, BatcherConfig};
pub use naive_bayes::log_count_ratios;
pub use pad::{pad_sequences, Padded, Side};
pub use split::{k_folds, split_indices, split_stratified};
pub use windows::{Normalizer, Windows};
