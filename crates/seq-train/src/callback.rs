//! Callbacks that act on training (Keras' callbacks): after every step and
//! every epoch a [`Callback`] sees what happened and answers with a
//! [`Control`]: go on, stop, change the learning rate, save the weights.
//! [`ReduceLrOnPlateau`] is one, as PyTorch's `ReduceLROnPlateau`.

use std::path::PathBuf;

use crate::{Goal, Record, StepEvent};

/// What a callback asks of the trainer; [`Control::go_on`] asks nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Control {
    /// Stop training after this step or epoch.
    pub stop: bool,
    /// The base learning rate from now on (the schedule applies on top).
    pub learning_rate: Option<f64>,
    /// Save the parameters (safetensors) to this file now.
    pub save: Option<PathBuf>,
}

impl Control {
    /// Nothing to do.
    pub fn go_on() -> Self {
        Self::default()
    }

    /// Stop training.
    pub fn stop() -> Self {
        Control {
            stop: true,
            ..Self::default()
        }
    }

    /// Set the base learning rate to `lr`.
    pub fn set_learning_rate(lr: f64) -> Self {
        Control {
            learning_rate: Some(lr),
            ..Self::default()
        }
    }

    /// Save the parameters to `path`.
    pub fn save(path: impl Into<PathBuf>) -> Self {
        Control {
            save: Some(path.into()),
            ..Self::default()
        }
    }
}

/// Sees every step and epoch of [`Trainer::fit`](crate::Trainer::fit) and
/// may act on them. Both methods do nothing by default.
pub trait Callback {
    /// After the optimiser step `event.step`.
    fn on_step(&mut self, _event: &StepEvent) -> Control {
        Control::go_on()
    }

    /// After epoch `epoch` (0-based) with its record (`train_loss`,
    /// `val_*`, `lr`, ...) and the base learning rate it used.
    fn on_epoch(&mut self, _epoch: usize, _record: &[(String, f64)], _base_lr: f64) -> Control {
        Control::go_on()
    }
}

/// PyTorch's `ReduceLROnPlateau`: when `monitor` has not improved by more
/// than `threshold` (relative) for `patience` epochs, the base learning
/// rate is multiplied by `factor`, not below `min_lr`; then `cooldown`
/// epochs pass before counting again.
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceLrOnPlateau {
    /// The metric to watch (e.g. `val_loss`).
    pub monitor: String,
    /// Whether it should go down or up.
    pub goal: Goal,
    /// The factor of each reduction (PyTorch's default 0.1).
    pub factor: f64,
    /// Epochs without improvement before reducing (default 10).
    pub patience: usize,
    /// Relative improvement that counts (default 1e-4).
    pub threshold: f64,
    /// Epochs to wait after a reduction (default 0).
    pub cooldown: usize,
    /// The lowest rate (default 0).
    pub min_lr: f64,
    best: Option<f64>,
    bad: usize,
    cooling: usize,
}

impl ReduceLrOnPlateau {
    /// Watches `monitor` toward `goal` with PyTorch's defaults.
    pub fn new(monitor: impl Into<String>, goal: Goal) -> Self {
        ReduceLrOnPlateau {
            monitor: monitor.into(),
            goal,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            best: None,
            bad: 0,
            cooling: 0,
        }
    }

    /// Multiplies the rate by `factor` at each reduction.
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Reduces after `patience` epochs without improvement.
    pub fn with_patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Never below `min_lr`.
    pub fn with_min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Waits `cooldown` epochs after a reduction.
    pub fn with_cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    fn improves(&self, value: f64) -> bool {
        match (self.best, self.goal) {
            (None, _) => value.is_finite(),
            (Some(b), Goal::Min) => value < b * (1.0 - self.threshold),
            (Some(b), Goal::Max) => value > b * (1.0 + self.threshold),
        }
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_epoch(&mut self, _epoch: usize, record: &[(String, f64)], base_lr: f64) -> Control {
        let Some(value) = record.to_vec().metric(&self.monitor) else {
            return Control::go_on();
        };
        if self.improves(value) {
            (self.best, self.bad) = (Some(value), 0);
        } else {
            self.bad += 1;
        }
        if self.cooling > 0 {
            self.cooling -= 1;
            self.bad = 0;
        }
        if self.bad > self.patience {
            (self.bad, self.cooling) = (0, self.cooldown);
            let lr = (base_lr * self.factor).max(self.min_lr);
            if lr < base_lr {
                return Control::set_learning_rate(lr);
            }
        }
        Control::go_on()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(v: f64) -> Vec<(String, f64)> {
        vec![("val_loss".into(), v)]
    }

    #[test]
    fn the_rate_drops_after_patience_epochs_without_improvement() {
        // As torch.optim.lr_scheduler.ReduceLROnPlateau(patience=2, factor=0.5)
        // gives for these values.
        let mut p = ReduceLrOnPlateau::new("val_loss", Goal::Min)
            .with_patience(2)
            .with_factor(0.5);
        let mut lr = 1.0;
        let mut lrs = Vec::new();
        for v in [1.0, 0.5, 0.6, 0.6, 0.6, 0.4, 0.5, 0.5, 0.5] {
            if let Some(new) = p.on_epoch(0, &epoch(v), lr).learning_rate {
                lr = new;
            }
            lrs.push(lr);
        }
        assert_eq!(lrs, [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]);
    }
}
