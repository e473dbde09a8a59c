//! [`EarlyStopping`]: stop when a monitored metric stops improving.

/// Whether a metric is better lower (losses) or higher (accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Goal {
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// Stops training after `patience` epochs without an improvement of more
/// than `min_delta` in `monitor` (a validation metric name such as
/// `val_loss` or `val_accuracy`), Keras' `EarlyStopping`; with
/// `restore_best`, the weights of the best epoch are put back at the end.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EarlyStopping {
    /// The metric watched, as named in the history (`val_loss`, ...).
    pub monitor: String,
    /// Lower or higher is better.
    pub goal: Goal,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
    /// Restore the best epoch's weights when training ends.
    pub restore_best: bool,
}

impl EarlyStopping {
    /// Watches `monitor` toward `goal` with `patience`, restoring the best weights.
    pub fn new(monitor: &str, goal: Goal, patience: usize) -> Self {
        EarlyStopping {
            monitor: monitor.to_string(),
            goal,
            patience,
            min_delta: 0.0,
            restore_best: true,
        }
    }

    /// Whether `value` improves on `best`.
    pub fn improves(&self, value: f64, best: Option<f64>) -> bool {
        match best {
            None => value.is_finite(),
            Some(b) => match self.goal {
                Goal::Min => value < b - self.min_delta,
                Goal::Max => value > b + self.min_delta,
            },
        }
    }
}
