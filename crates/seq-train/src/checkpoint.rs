//! Checkpoints: the weights, the optimiser's state and the trainer's state
//! in one safetensors file, written atomically ([`seq_core::fs`]: a
//! temporary name unique to the process, flushed, renamed into place), so a
//! crash mid-save leaves the previous checkpoint whole. Reading one back
//! checks everything before the caller changes anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Var;

use candle_core::{DType, Device, Tensor};
use seq_core::Params;

use crate::{Error, Result};

/// Where a run stands: what a resumed run needs besides the tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken (the global step).
    pub step: u64,
    /// The run's seed (shuffling and dropout derive from it and the step).
    pub seed: u64,
    /// The best value of the monitored metric so far.
    pub best: Option<f64>,
    /// Epochs since that best.
    pub bad_epochs: usize,
    /// Per metric, its value after each epoch.
    pub history: Vec<(String, Vec<f64>)>,
    /// Batches of the current epoch already trained on (a checkpoint
    /// taken mid-epoch; 0 at an epoch's end).
    pub batch: u64,
    /// The current epoch's training loss so far, summed over its examples.
    pub epoch_loss_sum: f64,
    /// Examples of the current epoch so far.
    pub epoch_examples: u64,
    /// The base learning rate, once a callback changed it.
    pub base_lr: Option<f64>,
}

impl TrainerState {
    /// The current epoch's mean training loss so far.
    pub fn epoch_loss(&self) -> f64 {
        self.epoch_loss_sum / self.epoch_examples.max(1) as f64
    }
}

/// A checkpoint written to its temporary file and flushed but not yet
/// renamed into place: [`Staged::commit`] makes it the checkpoint. Dropped
/// uncommitted, the previous checkpoint stays.
pub use seq_core::fs::Staged;

fn scalar(v: f64) -> Result<Tensor> {
    Ok(Tensor::new(&[v], &Device::Cpu)?)
}

/// Writes the checkpoint's tensors to a temporary file beside `path`.
///
/// Refuses (with an error naming the tensor) to write weights or optimiser
/// state that are not finite, so what a checkpoint holds can always be
/// trained on.
pub fn stage(
    path: &Path,
    params: &Params,
    optimizer: Vec<(String, Tensor)>,
    state: &TrainerState,
    best_weights: Option<&[(String, Tensor)]>,
) -> Result<Staged> {
    let mut t: HashMap<String, Tensor> = HashMap::new();
    for (name, var) in params.named_vars() {
        t.insert(format!("model/{name}"), var.as_tensor().clone());
    }
    for (name, v) in optimizer {
        t.insert(format!("optim/{name}"), v);
    }
    for (name, v) in best_weights.unwrap_or(&[]) {
        t.insert(format!("best/{name}"), v.clone());
    }
    for (name, v) in &t {
        if !seq_core::all_finite(v)? {
            return Err(Error::Checkpoint {
                path: path.into(),
                message: format!("not written: {name} holds values that are not finite"),
            });
        }
    }
    t.insert("trainer/epoch".into(), scalar(state.epoch as f64)?);
    t.insert("trainer/step".into(), scalar(state.step as f64)?);
    t.insert(
        "trainer/seed".into(),
        Tensor::new(&[state.seed as i64], &Device::Cpu)?,
    );
    t.insert(
        "trainer/bad_epochs".into(),
        scalar(state.bad_epochs as f64)?,
    );
    if let Some(b) = state.best {
        t.insert("trainer/best".into(), scalar(b)?);
    }
    t.insert("trainer/batch".into(), scalar(state.batch as f64)?);
    if let Some(lr) = state.base_lr {
        t.insert("trainer/base_lr".into(), scalar(lr)?);
    }
    t.insert(
        "trainer/epoch_loss_sum".into(),
        scalar(state.epoch_loss_sum)?,
    );
    t.insert(
        "trainer/epoch_examples".into(),
        scalar(state.epoch_examples as f64)?,
    );
    for (name, values) in &state.history {
        t.insert(
            format!("history/{name}"),
            Tensor::new(values.as_slice(), &Device::Cpu)?,
        );
    }
    let bytes = safetensors::serialize(&t, None).map_err(|e| Error::Checkpoint {
        path: path.into(),
        message: format!("cannot serialize: {e}"),
    })?;
    Ok(seq_core::fs::stage(path, &bytes)?)
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Checkpoint {
    tensors: HashMap<String, Tensor>,
    path: PathBuf,
}

impl Checkpoint {
    /// Reads the checkpoint at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |message: String| Error::Checkpoint {
            path: path.into(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| bad(format!("not a checkpoint: {e}")))?;
        Ok(Checkpoint {
            tensors,
            path: path.into(),
        })
    }

    fn bad(&self, message: String) -> Error {
        Error::Checkpoint {
            path: self.path.clone(),
            message,
        }
    }

    /// The tensors under `prefix/`, without it.
    pub fn section(&self, prefix: &str) -> HashMap<String, Tensor> {
        let p = format!("{prefix}/");
        self.tensors
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&p)?.to_string(), v.clone())))
            .collect()
    }

    /// Puts the saved weights into `params` (every parameter must be
    /// there): all or nothing, see [`Checkpoint::weights`].
    pub fn restore_weights(&self, params: &Params, section: &str) -> Result<()> {
        for (var, t) in self.weights(params, section)? {
            var.set(&t)?;
        }
        Ok(())
    }

    /// The saved weights of `section` for each of `params`' variables,
    /// checked (present, same shape, finite) and converted to the
    /// variable's dtype and device, ready to set: nothing is changed.
    pub fn weights(&self, params: &Params, section: &str) -> Result<Vec<(Var, Tensor)>> {
        let saved = self.section(section);
        let mut out = Vec::new();
        for (name, var) in params.named_vars() {
            let t = saved
                .get(&name)
                .ok_or_else(|| self.bad(format!("no {section}/{name}")))?;
            if t.dims() != var.dims() {
                return Err(self.bad(format!(
                    "{section}/{name} has shape {:?}, the model {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            if !t.dtype().is_float() || !seq_core::all_finite(t)? {
                return Err(self.bad(format!("{section}/{name} does not hold finite floats")));
            }
            let t = t.to_dtype(var.dtype())?.to_device(var.device())?;
            out.push((var, t));
        }
        Ok(out)
    }

    /// The trainer's state, checked: counts are whole and in range, the
    /// seed is one 64-bit integer, every history column has one value per
    /// completed epoch.
    pub fn state(&self) -> Result<TrainerState> {
        let value = |k: &str| -> Result<f64> {
            let t = self
                .tensors
                .get(&format!("trainer/{k}"))
                .ok_or_else(|| self.bad(format!("no trainer/{k}")))?;
            let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
            match v[..] {
                [x] => Ok(x),
                _ => Err(self.bad(format!("trainer/{k} holds {} values, not one", v.len()))),
            }
        };
        let count = |k: &str| -> Result<u64> {
            let x = value(k)?;
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) {
                Ok(x as u64)
            } else {
                Err(self.bad(format!("trainer/{k} is {x}, not a count")))
            }
        };
        let seed = self
            .tensors
            .get("trainer/seed")
            .filter(|t| t.dtype() == DType::I64 && t.elem_count() == 1)
            .ok_or_else(|| self.bad("trainer/seed is not one 64-bit integer".into()))?;
        let epoch = usize::try_from(count("epoch")?)
            .map_err(|_| self.bad("trainer/epoch is out of range".into()))?;
        let mut history: Vec<(String, Vec<f64>)> = Vec::new();
        for (k, v) in self.section("history") {
            let v = v.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
            if v.len() != epoch {
                return Err(self.bad(format!(
                    "history/{k} has {} values for {epoch} epochs",
                    v.len()
                )));
            }
            history.push((k, v));
        }
        history.sort_by(|a, b| a.0.cmp(&b.0));
        let best = match self.tensors.contains_key("trainer/best") {
            true => Some(value("best")?).filter(|b| !b.is_nan()),
            false => None,
        };
        // Checkpoints written at an epoch's end before these existed lack them.
        let optional_count = |k: &str| match self.tensors.contains_key(&format!("trainer/{k}")) {
            true => count(k),
            false => Ok(0),
        };
        let epoch_loss_sum = match self.tensors.contains_key("trainer/epoch_loss_sum") {
            true => Some(value("epoch_loss_sum")?)
                .filter(|v| v.is_finite())
                .ok_or_else(|| self.bad("trainer/epoch_loss_sum is not finite".into()))?,
            false => 0.0,
        };
        Ok(TrainerState {
            epoch,
            step: count("step")?,
            batch: optional_count("batch")?,
            epoch_loss_sum,
            epoch_examples: optional_count("epoch_examples")?,
            base_lr: match self.tensors.contains_key("trainer/base_lr") {
                true => Some(value("base_lr")?)
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .map(Some)
                    .ok_or_else(|| self.bad("trainer/base_lr is not a learning rate".into()))?,
                false => None,
            },
            seed: seed.flatten_all()?.to_vec1::<i64>()?[0] as u64,
            best,
            bad_epochs: usize::try_from(count("bad_epochs")?)
                .map_err(|_| self.bad("trainer/bad_epochs is out of range".into()))?,
            history,
        })
    }
}
