//! [`TrainerConfig`]: what the [`Trainer`](crate::Trainer) does besides
//! the steps: epochs, seed, schedule, clipping, early stopping,
//! checkpoints, logs, loading, accumulation.

use std::path::PathBuf;

use crate::data::Loader;
use crate::{EarlyStopping, Schedule};

/// The trainer's settings.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrainerConfig {
    /// Epochs to train (a resumed run continues up to this count).
    pub epochs: usize,
    /// Seed of the batch order and of the dropout masks (default 0).
    pub seed: u64,
    /// The learning rate of each step, from the optimiser's base rate
    /// (default constant).
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (PyTorch's `clip_grad_norm_`).
    pub clip_norm: Option<f64>,
    /// Clamp every gradient entry to `[-v, v]`.
    pub clip_value: Option<f64>,
    /// Stop when a validation metric stops improving.
    pub early_stopping: Option<EarlyStopping>,
    /// Write a checkpoint here after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Write `history.csv`, `history.jsonl` and `curves.svg` here.
    pub log_dir: Option<PathBuf>,
    /// No progress bar and no per-epoch line.
    pub quiet: bool,
    /// Threads and prefetch of the batches (default: one worker, two ahead).
    pub loader: Loader,
    /// Batches whose gradients make one optimiser step (default 1): `k`
    /// micro-batches step as one batch `k` times larger would.
    pub accumulate: usize,
    /// End each epoch after this many optimiser steps (Keras'
    /// `steps_per_epoch`; default: when the source runs out).
    pub steps_per_epoch: Option<usize>,
    /// Also write the checkpoint every this many steps (default: only at
    /// the end of each epoch); a run resumed from one continues mid-epoch.
    pub checkpoint_every: Option<u64>,
}

impl TrainerConfig {
    /// `epochs` epochs, seed 0, constant rate, nothing else.
    pub fn new(epochs: usize) -> Self {
        TrainerConfig {
            epochs,
            seed: 0,
            schedule: Schedule::Constant,
            clip_norm: None,
            clip_value: None,
            early_stopping: None,
            checkpoint: None,
            log_dir: None,
            quiet: false,
            loader: Loader::default(),
            accumulate: 1,
            steps_per_epoch: None,
            checkpoint_every: None,
        }
    }

    /// With the seed of the batch order and dropout masks (default 0).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// With a learning-rate schedule (default [`Schedule::Constant`]).
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// With the global gradient norm clipped to `max_norm` (default off).
    pub fn with_clip_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }

    /// With every gradient entry clamped to `[-v, v]` (default off).
    pub fn with_clip_value(mut self, v: f64) -> Self {
        self.clip_value = Some(v);
        self
    }

    /// With early stopping (default off).
    pub fn with_early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// With a checkpoint written to `path` after every epoch (default none).
    pub fn with_checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// With `history.csv`, `history.jsonl` and `curves.svg` written to
    /// `dir` (default none).
    pub fn with_log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Without a progress bar and per-epoch lines (default false).
    pub fn with_quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// With batches made by `loader` (default one worker, two ahead).
    pub fn with_loader(mut self, loader: Loader) -> Self {
        self.loader = loader;
        self
    }

    /// With `k` micro-batches per optimiser step (default 1).
    pub fn with_accumulate(mut self, k: usize) -> Self {
        self.accumulate = k;
        self
    }

    /// With each epoch ended after `steps` optimiser steps (default: when
    /// the source runs out).
    pub fn with_steps_per_epoch(mut self, steps: usize) -> Self {
        self.steps_per_epoch = Some(steps);
        self
    }

    /// With the checkpoint also written every `steps` steps (default: at
    /// the end of each epoch only).
    pub fn with_checkpoint_every(mut self, steps: u64) -> Self {
        self.checkpoint_every = Some(steps);
        self
    }
}
