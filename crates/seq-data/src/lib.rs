//! Data for seq: everything between a file on disk and a batch of tensors.
//!
//! This crate will hold text standardisation and tokenizers (word-level,
//! character-level and BPE, on the Hugging Face `tokenizers` crate),
//! pretrained word vectors, readers for the common public layouts (a folder
//! per label, CSV/TSV text and labels, Tatoeba sentence pairs, CSV time
//! series, UCR/UEA `.ts`), time-series windows, and batching with padding,
//! masks, bucketing and seeded shuffling.
//!
//! Status: not implemented yet; only `seq-core` is usable today.
#![warn(missing_docs)]
