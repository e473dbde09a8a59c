//! seq-data: everything between a file on disk and a batch of tensors, for
//! text and for time series, on real data.
//!
//! - [`Standardize`] and [`Tokenizer`] (word-level, character-level and BPE
//!   on the Hugging Face `tokenizers` crate; `[PAD]` 0, `[UNK]` 1, `[BOS]` 2,
//!   `[EOS]` 3; `tokenizer.json` in and out).
//! - [`audio`]: WAV files and log-mel spectrograms for speech models.
//! - [`vectors`]: word2vec (text and binary) and GloVe into embedding weights.
//! - [`hub`]: hub files through `hf-hub`, offline from the cache.
//! - [`readers`]: a folder per label, CSV/TSV with named columns, sentence
//!   pairs, CSV time series with a missing-value policy, UCR/UEA `.ts`,
//!   plain text. Errors name the file, line and column.
//! - [`pipeline`]: padding and truncation with masks, seeded splits,
//!   time-series windows and normalisation fitted on the training part,
//!   a batch iterator with seeded shuffling, bucketing and prefetching.
//! - [`stream`]: corpora larger than memory: lines and table records read
//!   as needed, sharded by byte range, a seeded shuffle buffer and length
//!   buckets within a window.
#![warn(missing_docs)]

pub mod audio;
mod error;
#[cfg(feature = "hub")]
pub mod hub;
pub mod pipeline;
pub mod readers;
mod standardize;
pub mod stream;
mod tokenizer;
pub mod vectors;

pub use error::{Error, Result};
pub use standardize::{Standardize, PUNCTUATION};
pub use tokenizer::{Tokenizer, VocabConfig, BOS, EOS, PAD, UNK};
