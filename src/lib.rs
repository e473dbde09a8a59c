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

/// The names most programs use, in one import: `use seq::prelude::*;`.
///
/// ```
/// use seq::prelude::*;
///
/// # fn main() -> seq::core::Result<()> {
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// let model = Sequential::new()
///     .add(Lstm::new(RecurrentConfig::new(4, 8), vb.pp("0"))?)
///     .add(Linear::new(LinearConfig::new(8, 2), vb.pp("1"))?);
/// let x = Tensor::zeros((2, 5, 4), DType::F32, &Device::Cpu)?;
/// let y = Module::forward(&model, &Seq::new(x)?, Mode::Eval)?;
/// assert_eq!(y.values().dims(), &[2, 5, 2]);
/// # Ok(()) }
/// ```
pub mod prelude {
    pub use candle_core::{DType, Device, Tensor, D};
    pub use seq_attention::{
        AttnMask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, NeedWeights,
        SinusoidalEncoding, TransformerConfig, TransformerEncoder, TransformerLayerConfig,
        TransformerSeq2Seq, TransformerSeq2SeqConfig,
    };
    pub use seq_conv::{
        AvgPool1d, Conv1d, Conv1dConfig, GlobalAvgPool1d, GlobalMaxPool1d, MaxPool1d, Padding,
        Pool1dConfig,
    };
    pub use seq_core::{
        Activation, Dropout, Embedding, EmbeddingConfig, FromCandle, LayerNorm, LayerNormConfig,
        Linear, LinearConfig, Mode, Module, Params, Rng, Seq, Sequential,
    };
    pub use seq_data::{Tokenizer, VocabConfig};
    pub use seq_recurrent::{Gru, Lstm, Recurrent, RecurrentConfig, Rnn, State};
    pub use seq_train::{loss, OptimizerConfig, Task, Trainer, TrainerConfig};
}
