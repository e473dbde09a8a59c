//! Optimisers on candle `Var`s, with PyTorch's update rules: SGD with
//! momentum and Nesterov, Adam, AdamW, RMSprop, all with weight decay, and
//! state that saves and restores (candle-nn has only plain SGD and AdamW,
//! without saved state).

mod adam;
mod candle;
mod inplace;
mod rmsprop;
mod sgd;

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

pub use candle::CandleOptimizer;

use crate::{Error, Result};

/// An optimiser over named variables.
pub trait Optimizer {
    /// Applies one update from the gradients (variables without one are skipped).
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    /// The learning rate of the next step.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (schedules call this before each step).
    fn set_learning_rate(&mut self, lr: f64);
    /// The state to save: moment buffers `"<var>.<slot>"` and `"step"`.
    fn state(&self) -> Result<Vec<(String, Tensor)>>;
    /// Restores [`Optimizer::state`].
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Which optimiser, with its hyper-parameters (PyTorch's names and defaults
/// in the constructors).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OptimizerConfig {
    /// `torch.optim.SGD`.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0: none).
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
    /// `torch.optim.Adam` (weight decay as an L2 term in the gradient).
    Adam {
        /// Learning rate.
        lr: f64,
        /// `(beta1, beta2)`.
        betas: (f64, f64),
        /// Added to the denominator.
        eps: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
    /// `torch.optim.AdamW` (decoupled weight decay, Loshchilov & Hutter, 2019).
    AdamW {
        /// Learning rate.
        lr: f64,
        /// `(beta1, beta2)`.
        betas: (f64, f64),
        /// Added to the denominator.
        eps: f64,
        /// Decoupled decay: `p *= 1 - lr * weight_decay`.
        weight_decay: f64,
    },
    /// `torch.optim.RMSprop` (not centered).
    RmsProp {
        /// Learning rate.
        lr: f64,
        /// Smoothing of the squared gradient.
        alpha: f64,
        /// Added to the denominator.
        eps: f64,
        /// Momentum factor (0: none).
        momentum: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// SGD with PyTorch's defaults (no momentum, no decay).
    pub fn sgd(lr: f64) -> Self {
        OptimizerConfig::Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Adam with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8).
    pub fn adam(lr: f64) -> Self {
        OptimizerConfig::Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Self {
        OptimizerConfig::AdamW {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }

    /// RMSprop with PyTorch's defaults (alpha 0.99, eps 1e-8).
    pub fn rmsprop(lr: f64) -> Self {
        OptimizerConfig::RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// With a weight decay (every optimiser has one: an L2 penalty for SGD,
    /// Adam and RMSprop, decoupled for AdamW).
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        match &mut self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::AdamW { weight_decay, .. }
            | OptimizerConfig::RmsProp { weight_decay, .. } => *weight_decay = wd,
        }
        self
    }

    fn validate(&self) -> Result<()> {
        let name = self.name();
        let check = |what: &str, v: f64, ok: bool| match ok && v.is_finite() {
            true => Ok(()),
            false => Err(Error::Config(format!("{name}: invalid {what}: {v}"))),
        };
        check("learning rate", self.lr(), self.lr() >= 0.0)?;
        match *self {
            OptimizerConfig::Sgd {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => {
                check("momentum", momentum, momentum >= 0.0)?;
                check("weight_decay", weight_decay, weight_decay >= 0.0)?;
                if nesterov && momentum <= 0.0 {
                    return Err(Error::Config(format!(
                        "{name}: Nesterov momentum requires a momentum above 0"
                    )));
                }
            }
            OptimizerConfig::Adam {
                betas,
                eps,
                weight_decay,
                ..
            }
            | OptimizerConfig::AdamW {
                betas,
                eps,
                weight_decay,
                ..
            } => {
                check("beta1", betas.0, (0.0..1.0).contains(&betas.0))?;
                check("beta2", betas.1, (0.0..1.0).contains(&betas.1))?;
                check("eps", eps, eps >= 0.0)?;
                check("weight_decay", weight_decay, weight_decay >= 0.0)?;
            }
            OptimizerConfig::RmsProp {
                alpha,
                eps,
                momentum,
                weight_decay,
                ..
            } => {
                check("alpha", alpha, alpha >= 0.0)?;
                check("eps", eps, eps >= 0.0)?;
                check("momentum", momentum, momentum >= 0.0)?;
                check("weight_decay", weight_decay, weight_decay >= 0.0)?;
            }
        }
        Ok(())
    }

    /// The state buffers this optimiser keeps per variable.
    fn slots(&self) -> &'static [&'static str] {
        match self {
            OptimizerConfig::Sgd { .. } => &["momentum"],
            OptimizerConfig::Adam { .. } | OptimizerConfig::AdamW { .. } => {
                &["exp_avg", "exp_avg_sq"]
            }
            OptimizerConfig::RmsProp { .. } => &["square_avg", "momentum"],
        }
    }

    /// PyTorch's class name.
    fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd { .. } => "SGD",
            OptimizerConfig::Adam { .. } => "Adam",
            OptimizerConfig::AdamW { .. } => "AdamW",
            OptimizerConfig::RmsProp { .. } => "RMSprop",
        }
    }

    fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. } => lr,
        }
    }

    /// An optimiser over `vars` (e.g. `Params::named_vars()`).
    ///
    /// Hyper-parameters are checked as PyTorch checks them: a negative or
    /// non-finite learning rate, momentum, epsilon or weight decay, betas
    /// outside `[0, 1)`, or Nesterov without momentum is an error naming it.
    pub fn build(self, vars: Vec<(String, Var)>) -> Result<Optim> {
        self.validate()?;
        let n = vars.len();
        Ok(Optim {
            lr: self.lr(),
            config: self,
            vars,
            slots: vec![HashMap::new(); n],
            groups: vec![None; n],
            t: 0,
        })
    }
}

/// Settings for some of the variables: PyTorch's parameter groups, e.g. no
/// weight decay on biases and norms, or a smaller rate for a pretrained
/// encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGroup {
    /// The variables whose names contain any of these.
    pub matching: Vec<String>,
    /// Their learning rate as a multiple of the optimiser's (default 1;
    /// a schedule scales every group alike, as PyTorch's schedulers do).
    pub lr_scale: f64,
    /// Their weight decay in place of the optimiser's (default: the optimiser's).
    pub weight_decay: Option<f64>,
}

impl ParamGroup {
    /// The variables whose names contain any of `matching`.
    pub fn new<S: Into<String>>(matching: impl IntoIterator<Item = S>) -> Self {
        ParamGroup {
            matching: matching.into_iter().map(Into::into).collect(),
            lr_scale: 1.0,
            weight_decay: None,
        }
    }

    /// Their rate is `scale` times the optimiser's.
    pub fn with_lr_scale(mut self, scale: f64) -> Self {
        self.lr_scale = scale;
        self
    }

    /// Their weight decay is `wd`.
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = Some(wd);
        self
    }
}

/// The optimiser built by [`OptimizerConfig::build`].
#[derive(Debug)]
pub struct Optim {
    config: OptimizerConfig,
    lr: f64,
    vars: Vec<(String, Var)>,
    /// Per variable, its named state buffers.
    slots: Vec<HashMap<&'static str, Tensor>>,
    /// Per variable, the group it belongs to (the first that matches).
    groups: Vec<Option<ParamGroup>>,
    /// Steps taken.
    t: u64,
}

impl Optim {
    /// Puts the variables `group` matches (and no earlier group did) in it.
    /// An error when it matches none, or its settings are invalid.
    pub fn with_group(mut self, group: ParamGroup) -> Result<Self> {
        let bad = |what: &str, v: f64| {
            Error::Config(format!(
                "parameter group {:?}: invalid {what}: {v}",
                group.matching
            ))
        };
        if !(group.lr_scale.is_finite() && group.lr_scale >= 0.0) {
            return Err(bad("lr_scale", group.lr_scale));
        }
        if let Some(wd) = group.weight_decay.filter(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(bad("weight_decay", wd));
        }
        let mut matched = 0;
        for ((name, _), slot) in self.vars.iter().zip(self.groups.iter_mut()) {
            if slot.is_none() && group.matching.iter().any(|m| name.contains(m.as_str())) {
                *slot = Some(group.clone());
                matched += 1;
            }
        }
        if matched == 0 {
            return Err(Error::Config(format!(
                "parameter group {:?} matches no variable",
                group.matching
            )));
        }
        Ok(self)
    }
}

impl Optimizer for Optim {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let vars = self
            .vars
            .iter()
            .zip(self.slots.iter_mut())
            .zip(&self.groups);
        for (((_, var), slots), group) in vars {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let (p, g) = (var.as_tensor().detach(), g.detach());
            let (lr, config) = match group {
                Some(group) => (
                    self.lr * group.lr_scale,
                    match group.weight_decay {
                        Some(wd) => self.config.with_weight_decay(wd),
                        None => self.config,
                    },
                ),
                None => (self.lr, self.config),
            };
            let new = match config {
                OptimizerConfig::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                    ..
                } => Some(sgd::update(
                    &p,
                    g,
                    slots,
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                )?),
                OptimizerConfig::Adam {
                    betas,
                    eps,
                    weight_decay,
                    ..
                } => adam::update(
                    &p,
                    g,
                    slots,
                    self.t,
                    lr,
                    betas,
                    eps,
                    adam::Decay::L2(weight_decay),
                )?,
                OptimizerConfig::AdamW {
                    betas,
                    eps,
                    weight_decay,
                    ..
                } => adam::update(
                    &p,
                    g,
                    slots,
                    self.t,
                    lr,
                    betas,
                    eps,
                    adam::Decay::Decoupled(weight_decay),
                )?,
                OptimizerConfig::RmsProp {
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                    ..
                } => Some(rmsprop::update(
                    &p,
                    g,
                    slots,
                    lr,
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                )?),
            };
            if let Some(new) = new {
                var.set(&new)?; // else updated in place
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(
            "step".to_string(),
            Tensor::new(self.t as f64, &candle_core::Device::Cpu)?,
        )];
        for ((name, _), slots) in self.vars.iter().zip(&self.slots) {
            for (slot, t) in slots {
                // A copy: the optimiser may update its buffers in place.
                out.push((format!("{name}.{slot}"), t.copy()?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// All or nothing: every entry is checked (a known variable and a slot
    /// of this optimiser, the variable's shape, finite values, a whole
    /// non-negative step) before the state changes.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let bad = |m: String| Error::Config(format!("optimizer state: {m}"));
        let step = state.get("step").ok_or_else(|| bad("no `step`".into()))?;
        let step = step
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?
            .first()
            .copied()
            .filter(|s| s.is_finite() && *s >= 0.0 && s.fract() == 0.0 && *s < 2f64.powi(53))
            .ok_or_else(|| bad("`step` is not a whole number of steps".into()))?;
        let slot_names = self.config.slots();
        let mut slots = vec![HashMap::new(); self.vars.len()];
        let index: HashMap<&str, usize> = self
            .vars
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i))
            .collect();
        for (key, t) in state {
            if key == "step" {
                continue;
            }
            let found = slot_names.iter().find_map(|slot| {
                let var = key.strip_suffix(slot)?.strip_suffix('.')?;
                Some((*index.get(var)?, *slot))
            });
            let Some((i, slot)) = found else {
                return Err(bad(format!(
                    "{key:?} is not a slot ({}) of a variable of this {} optimizer",
                    slot_names.join(", "),
                    self.config.name()
                )));
            };
            let var = &self.vars[i].1;
            if t.dims() != var.dims() {
                return Err(bad(format!(
                    "{key} has shape {:?}, the variable {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            if !seq_core::all_finite(t)? {
                return Err(bad(format!("{key} holds values that are not finite")));
            }
            // A copy, which the optimiser may update in place.
            let t = t.to_dtype(var.dtype())?.to_device(var.device())?.copy()?;
            slots[i].insert(slot, t);
        }
        self.t = step as u64;
        self.slots = slots;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `with_weight_decay` sets each optimiser's decay and nothing else.
    #[test]
    fn with_weight_decay_sets_the_decay_of_every_optimiser() {
        let set = OptimizerConfig::adamw(0.1).with_weight_decay(0.0);
        let want = OptimizerConfig::AdamW {
            lr: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        };
        assert_eq!(set, want);
        for config in [
            OptimizerConfig::sgd(0.1),
            OptimizerConfig::adam(0.1),
            OptimizerConfig::rmsprop(0.1),
        ] {
            let decay = match config.with_weight_decay(0.25) {
                OptimizerConfig::Sgd { weight_decay, .. }
                | OptimizerConfig::Adam { weight_decay, .. }
                | OptimizerConfig::AdamW { weight_decay, .. }
                | OptimizerConfig::RmsProp { weight_decay, .. } => weight_decay,
            };
            assert_eq!(decay, 0.25, "{config:?}");
        }
    }
}
