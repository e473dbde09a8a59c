//! Attention for seq: the Transformer of "Attention Is All You Need"
//! (Vaswani et al., 2017).
//!
//! This crate will hold scaled dot-product attention with causal and key
//! padding masks, `MultiHeadAttention` under PyTorch's parameter names,
//! sinusoidal, learned and rotary positional encodings, Transformer encoder
//! and decoder layers and stacks, and autoregressive decoding (greedy and
//! beam search) with a key/value cache.
//!
//! Status: not implemented yet; only `seq-core` is usable today.
#![warn(missing_docs)]
