//! seq: deep learning for sequential data, in Rust, on candle.
//!
//! This facade re-exports the workspace's crates so that one dependency
//! brings them all; each can also be used on its own.
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `seq-core` | the `Module` trait, `Seq`, building blocks, init, gradient check |
//! | [`recurrent`] | `seq-recurrent` | Elman RNN, LSTM, GRU |
//! | [`conv`] | `seq-conv` | 1D convolution and pooling |
//! | [`attention`] | `seq-attention` | attention and the Transformer |
//! | [`data`] | `seq-data` | tokenizers, readers, batching |
//! | [`train`] | `seq-train` | the training loop |
#![warn(missing_docs)]

/// candle's tensors, at the exact version seq is built and tested with.
pub use candle_core;
/// candle's layers and `VarBuilder`, at the exact version seq uses.
pub use candle_nn;

pub use seq_attention as attention;
pub use seq_conv as conv;
pub use seq_core as core;
pub use seq_data as data;
pub use seq_recurrent as recurrent;
pub use seq_train as train;
