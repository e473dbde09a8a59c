//! Checkpoints: the weights, the optimiser's state and the trainer's state
//! in one safetensors file, written under a temporary name and renamed into
//! place, so a crash mid-save leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
}

/// A checkpoint written to its temporary file but not yet renamed into
/// place: [`Staged::commit`] makes it the checkpoint. Dropped uncommitted
/// (a crash between write and rename), the previous checkpoint stays.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
}

impl Staged {
    /// Renames the temporary file over the checkpoint (atomic on one filesystem).
    pub fn commit(self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.path).map_err(Error::io(&self.path))
    }
}

fn scalar(v: f64) -> Result<Tensor> {
    Ok(Tensor::new(&[v], &Device::Cpu)?)
}

/// Writes the checkpoint's tensors to `path`'s temporary file.
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
    for (name, values) in &state.history {
        t.insert(
            format!("history/{name}"),
            Tensor::new(values.as_slice(), &Device::Cpu)?,
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&t, &tmp)?;
    Ok(Staged {
        tmp,
        path: path.to_path_buf(),
    })
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
        if !path.exists() {
            return Err(Error::Checkpoint {
                path: path.into(),
                message: "no such file".into(),
            });
        }
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| Error::Checkpoint {
                path: path.into(),
                message: e.to_string(),
            })?;
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

    /// Puts the saved weights into `params` (every parameter must be there).
    pub fn restore_weights(&self, params: &Params, section: &str) -> Result<()> {
        let saved = self.section(section);
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
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        Ok(())
    }

    /// The trainer's state.
    pub fn state(&self) -> Result<TrainerState> {
        let get = |k: &str| -> Result<f64> {
            let t = self
                .tensors
                .get(&format!("trainer/{k}"))
                .ok_or_else(|| self.bad(format!("no trainer/{k}")))?;
            Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?[0])
        };
        let seed = self
            .tensors
            .get("trainer/seed")
            .ok_or_else(|| self.bad("no trainer/seed".into()))?;
        let mut history: Vec<(String, Vec<f64>)> = self
            .section("history")
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_vec1::<f64>()?)))
            .collect::<Result<_>>()?;
        history.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TrainerState {
            epoch: get("epoch")? as usize,
            step: get("step")? as u64,
            seed: seed.to_vec1::<i64>()?[0] as u64,
            best: self
                .tensors
                .contains_key("trainer/best")
                .then(|| get("best"))
                .transpose()?,
            bad_epochs: get("bad_epochs")? as usize,
            history,
        })
    }
}
