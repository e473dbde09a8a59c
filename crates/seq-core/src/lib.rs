//! seq-core: the foundation every seq crate builds on.
//!
//! - [`Module`], the one trait of every layer, over [`Seq`] (values
//!   `[batch, time, features]` and an optional padding mask `[batch, time]`),
//!   with [`Mode`] (train or eval) and [`Sequential`] stacks.
//! - Building blocks: [`Linear`] applied per time step, [`Embedding`] (a
//!   padding id makes the mask), [`Dropout`], a differentiable [`LayerNorm`],
//!   [`Activation`]s.
//! - Fused CPU ops, each one candle custom op with its own backward and a
//!   composed reference chosen with [`Engine`]: layer norm, dropout (masks
//!   hashed from seed, step and position, recomputed in backward), GELU
//!   (exact and tanh forms, exact derivatives), relu, a bias followed by an
//!   activation or alone ([`add_bias`]), and a linear layer's product with
//!   its bias and ReLU ([`linear`], [`Linear::apply_activation`]).
//!   Their work is cut into blocks of a fixed size and reduced in a fixed
//!   order, so results do not depend on the number of threads.
//! - Parameters: [`Params`] (a seeded `VarMap` that saves and loads
//!   safetensors under PyTorch's names) and [`Init`] (PyTorch's defaults,
//!   Xavier/Glorot, Kaiming, orthogonal).
//! - [`interop`]: every seq layer is a `candle_core::Module` (and with
//!   [`WithMode`] a `candle_nn::ModuleT`); [`FromCandle`] makes any candle
//!   module a seq [`Module`].
//! - `pretrained` (feature `serde`): a model saved as a folder
//!   (`config.json`, `model.safetensors`) and loaded back.
//! - [`fs`]: files written atomically and flushed (parameters,
//!   checkpoints, tokenizers and logs all go through it).
//! - [`memory`]: sizes from files and options checked for overflow and
//!   allocated fallibly (an error, never an abort).
//! - [`best_device`]: CUDA, Metal or CPU; [`device`] reads one by name
//!   (`auto`, `cpu`, `cuda:N`, `metal:N`).
//! - [`set_flush_denormals`]: subnormal floats flushed to zero inside
//!   seq's kernels (on by default), so long recurrent chains do not crawl;
//!   each kernel restores the thread's floating-point mode as it found it
//!   ([`FlushScope`]).
//! - [`pool`]: mean, max and last over the real steps of padded sequences.
//! - [`beam`]: beam search for any autoregressive decoder (the
//!   Transformer's and the recurrent encoder-decoder's share it).
//! - [`testing`]: seeded random tensors and tensor differences for tests.
//! - [`panel`]: right-hand matrices packed for an AVX-512 register tile,
//!   which the LSTM's step and the convolution share.
//! - [`gradcheck`](mod@gradcheck): finite differences against candle's backward, public as
//!   PyTorch's is.
//!
//! Layout is batch-first everywhere. Parameter names follow PyTorch, so a
//! PyTorch state dict saved with `safetensors.torch.save_file` loads without
//! renaming.
#![warn(missing_docs)]

mod activation;
mod affine;
pub mod beam;
pub mod cpu;
mod denormals;
mod device;
mod dropout;
mod embedding;
mod engine;
mod error;
pub mod fs;
pub mod gradcheck;
pub mod init;
pub mod interop;
mod layer_norm;
mod layer_norm_op;
mod linear;
pub mod memory;
mod module;
pub mod panel;
mod params;
mod pointwise;
pub mod pool;
#[cfg(feature = "serde")]
pub mod pretrained;
pub mod rng;
mod seq;
mod sequential;
mod tensor_file;
pub mod testing;
pub mod threads;

pub use activation::{softmax, Activation};
pub use denormals::{flush_denormals, set_flush_denormals, FlushScope};
pub use device::{best_device, device, device_name};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingConfig};
pub use engine::Engine;
pub use error::{Error, Result};
pub use gradcheck::{gradcheck, Gradcheck, GradcheckReport, TensorCheck};
pub use init::Init;
pub use interop::{FromCandle, WithMode};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::{linear, Linear, LinearConfig};
pub use module::{Mode, Module};
pub use params::{all_finite, LoadOptions, LoadReport, Params};
pub use pointwise::add_bias;
pub use rng::Rng;
pub use seq::Seq;
pub use sequential::Sequential;
