//! seq-conv: 1D convolutional networks for sequences, as the course
//! presents them: local receptive fields, weights shared across time,
//! cross-correlation (not a flipped convolution), equivariance to shifts,
//! and pooling to shorten the sequence.
//!
//! - [`Conv1d`]: kernel size, stride, dilation, groups, bias; [`Padding`]
//!   `Valid`, `Same`, `Causal` or explicit; PyTorch's names and weight layout
//!   (`weight [out, in/groups, k]`, `bias`), on seq's `[batch, time,
//!   channels]` layout.
//! - Pooling: [`MaxPool1d`], [`AvgPool1d`] (any kernel and stride,
//!   overlapping windows included), [`GlobalMaxPool1d`], [`GlobalAvgPool1d`].
//! - [`BatchNorm1d`]: batch normalisation over batch and time (PyTorch's
//!   `nn.BatchNorm1d`, running statistics, masks honoured).
//! - [`TemporalBlock`]: the residual block of dilated causal convolutions
//!   (WaveNet, TCN), a forecasting backbone.
//!
//! Every layer has a correct backward for any geometry, checked against
//! finite differences and PyTorch: candle 0.11.1's `conv1d` has a wrong
//! weight gradient for batches larger than one, and its pooling backward
//! fails unless kernel == stride, so neither is used.
//!
//! # Masks
//! Masks are taken as right-padded (real steps first, as `Seq::with_lengths`
//! and seq's tokenizers make them). Padded steps read as zeros in a
//! convolution and an average, and are never chosen by a maximum; global
//! pooling ignores them. A strided or unpadded layer derives its output mask
//! from the lengths: a sequence of `L` real steps keeps its first
//! `floor((L + left + right - span) / stride) + 1` outputs, those whose
//! window lies on real steps or on the layer's own padding.
//!
//! # Errors
//! [`seq_core::Error`]: a kernel longer than the (padded) input, a channel
//! mismatch or groups that do not divide the channels say which and by how
//! much.
#![warn(missing_docs)]

mod batch_norm;
mod conv1d;
mod fused;
mod padding;
mod pool;
mod temporal;
mod window;

pub use batch_norm::{BatchNorm1d, BatchNorm1dConfig};
pub use conv1d::{Conv1d, Conv1dConfig};
pub use padding::Padding;
pub use pool::{AvgPool1d, GlobalAvgPool1d, GlobalMaxPool1d, MaxPool1d, Pool1dConfig};
pub use temporal::{TemporalBlock, TemporalBlockConfig};

// Every layer is also a candle `Module` (evaluation mode).
seq_core::candle_module!(
    Conv1d,
    BatchNorm1d,
    MaxPool1d,
    AvgPool1d,
    GlobalMaxPool1d,
    GlobalAvgPool1d,
    TemporalBlock
);
