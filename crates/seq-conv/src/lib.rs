//! 1D convolutional networks for seq: local receptive fields, shared
//! weights, pooling.
//!
//! This crate will hold `Conv1d` (cross-correlation with `valid`, `same`,
//! `causal` or explicit padding, stride, dilation, groups, on the shared
//! `[batch, time, channels]` layout), max and average pooling with a correct
//! backward for any kernel and stride, global pooling that honours masks, and
//! a residual temporal block of dilated causal convolutions (WaveNet/TCN).
//!
//! Status: not implemented yet; only `seq-core` is usable today.
#![warn(missing_docs)]
