//! seq-train: the training loop people expect from Keras' `fit` and
//! PyTorch's usual loop, for any model built from seq's `Module`s.
//!
//! - [`Trainer`] (`fit`, `evaluate`, `predict`, hooks per step and per epoch)
//!   over a [`Task`]: seeded batch order and dropout, so runs repeat and a
//!   resumed run (from an epoch's end or mid-epoch) continues the exact
//!   trajectory; gradient accumulation.
//! - [`data`]: the [`DataSource`] `fit` pulls batches from (in-memory
//!   batches, [`Planned`] batches made anew every epoch, streams), made on
//!   background threads ([`Loader`]) while the model trains.
//! - [`ctc`]: the CTC loss (PyTorch's `nn.CTCLoss`) and its greedy and
//!   prefix beam search decoders.
//! - [`loss`]: cross-entropy from logits (ignore index, label smoothing),
//!   binary cross-entropy from logits, MSE, MAE, Huber, pinball (quantiles).
//! - [`word2vec`]: word vectors learned from any text (skip-gram with
//!   negative sampling), saved in word2vec's text format.
//! - [`optim`]: SGD (momentum, Nesterov), Adam, AdamW, RMSprop with weight
//!   decay, PyTorch's update rules, state saved and restored.
//! - [`Schedule`]: constant, step, exponential, cosine with warm-up, the
//!   Transformer's inverse square root with warm-up, one-cycle; and
//!   [`Callback`]s that stop, change the rate ([`ReduceLrOnPlateau`]) or
//!   save.
//! - [`clip`]: by global norm (`clip_grad_norm_`) and by value.
//! - [`metrics`]: accuracy, precision/recall/F1, confusion matrix, MAE/RMSE,
//!   perplexity, corpus BLEU as sacreBLEU computes it.
//! - [`EarlyStopping`], [`checkpoint`]s written to a temporary file and
//!   renamed, CSV/JSON-lines logs and SVG training curves.
#![warn(missing_docs)]

mod callback;
pub mod checkpoint;
pub mod clip;
mod config;
pub mod ctc;
pub mod data;
pub mod distributed;
mod early_stopping;
mod error;
mod history;
mod log;
pub mod loss;
pub mod metrics;
pub mod optim;
mod schedule;
mod trainer;
pub mod word2vec;

pub use callback::{Callback, Control, ReduceLrOnPlateau};
pub use config::TrainerConfig;
pub use data::{DataSource, Loader, Planned, Streamed};
pub use early_stopping::{EarlyStopping, Goal};
pub use error::{Error, Result};
pub use history::{History, Record};
pub use log::write_all as write_logs;
pub use optim::{CandleOptimizer, Optim, Optimizer, OptimizerConfig, ParamGroup};
pub use schedule::{RateFn, Schedule};
pub use trainer::{StepEvent, Task, Trainer};
