//! Training for seq: what Keras' `fit` and PyTorch's usual loop give a user.
//!
//! This crate will hold the `Trainer` (fit, evaluate, predict), losses,
//! optimisers (SGD with momentum, Adam, AdamW, RMSprop), learning-rate
//! schedules, gradient clipping by global norm and by value, metrics (BLEU
//! included), early stopping, and checkpoints that a crash cannot corrupt.
//!
//! Status: not implemented yet; only `seq-core` is usable today.
#![warn(missing_docs)]
