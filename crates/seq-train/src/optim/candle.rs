//! [`CandleOptimizer`]: a candle-nn optimiser (`candle_nn::SGD`,
//! `candle_nn::AdamW`, or one of the user's) driving the [`Trainer`].
//!
//! [`Trainer`]: crate::Trainer

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::Tensor;

use super::Optimizer;
use crate::{Error, Result};

/// Any [`candle_nn::Optimizer`] as a seq [`Optimizer`]: steps, learning
/// rate and schedules work; its state cannot be saved (candle-nn's
/// optimisers keep their moments private), so a trainer that writes
/// checkpoints with it fails at the first one, saying so.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use candle_nn::Optimizer as _;
/// use seq_core::Params;
/// use seq_train::{CandleOptimizer, Trainer, TrainerConfig};
///
/// let params = Params::new(0);
/// let vars = params.named_vars().into_iter().map(|(_, v)| v).collect();
/// let sgd = candle_nn::SGD::new(vars, 0.1)?;
/// let _trainer = Trainer::new(TrainerConfig::new(1), params, CandleOptimizer(sgd));
/// # Ok(()) }
/// ```
pub struct CandleOptimizer<O>(pub O);

impl<O: candle_nn::Optimizer> Optimizer for CandleOptimizer<O> {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        Ok(self.0.step(grads)?)
    }

    fn learning_rate(&self) -> f64 {
        self.0.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.0.set_learning_rate(lr)
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Err(Error::Config(
            "a candle-nn optimiser's state cannot be saved in a checkpoint; \
             train with seq's optimisers (OptimizerConfig) to checkpoint"
                .into(),
        ))
    }

    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Err(Error::Config(
            "a candle-nn optimiser's state cannot be restored from a checkpoint".into(),
        ))
    }
}
