//! [`Params`]: a model's parameters, created from a seeded generator, saved
//! and loaded as safetensors under PyTorch's names.

use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};

use crate::{Error, Init, Result, Rng};

/// The parameters of a model: a candle `VarMap` whose new variables are drawn
/// from a seeded [`Rng`], so that the same seed builds the same model.
///
/// Layers are built from [`Params::var_builder`]; each asks for its tensors
/// with an init hint, and the first request creates the variable. Cloning a
/// `Params` shares the variables.
///
/// ```
/// # use seq_core::{Linear, LinearConfig, Params};
/// # fn main() -> seq_core::Result<()> {
/// let params = Params::new(42);
/// let vb = params.var_builder(candle_core::DType::F32, &candle_core::Device::Cpu);
/// let _fc = Linear::new(LinearConfig::new(4, 3), vb.pp("fc"))?;
/// assert_eq!(params.names(), ["fc.bias", "fc.weight"]);
/// assert_eq!(params.num_params(), 15);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Params {
    vars: VarMap,
    rng: Arc<Mutex<Rng>>,
}

impl Params {
    /// Empty parameters whose variables will be drawn with `seed`.
    pub fn new(seed: u64) -> Self {
        Params {
            vars: VarMap::new(),
            rng: Arc::new(Mutex::new(Rng::new(seed))),
        }
    }

    /// A `VarBuilder` that creates (or, once created, returns) variables here.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// The underlying candle `VarMap` (for candle-nn optimisers).
    pub fn varmap(&self) -> &VarMap {
        &self.vars
    }

    /// Every variable, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut vars: Vec<(String, Var)> = lock(&self.vars)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// The names of the variables, sorted.
    pub fn names(&self) -> Vec<String> {
        self.named_vars().into_iter().map(|(n, _)| n).collect()
    }

    /// The variable called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Var> {
        lock(&self.vars).get(name).cloned()
    }

    /// The number of scalar parameters.
    pub fn num_params(&self) -> usize {
        lock(&self.vars).values().map(|v| v.elem_count()).sum()
    }

    /// Refills the variable `name` with `init`, drawn from this generator
    /// (PyTorch's `nn.init.*_(tensor)`).
    pub fn reinit(&self, name: &str, init: Init) -> Result<()> {
        let var = self
            .get(name)
            .ok_or_else(|| Error::config("Params::reinit", format!("no parameter {name:?}")))?;
        let mut rng = self.rng.lock().map_err(|_| poisoned())?;
        let t = init.sample(var.shape(), var.dtype(), var.device(), &mut rng)?;
        var.set(&t)?;
        Ok(())
    }

    /// Writes every variable to a safetensors file. The file is written next
    /// to `path` under a temporary name and renamed into place, so a crash
    /// mid-save leaves any previous file whole.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let tensors: Vec<(String, Tensor)> = self
            .named_vars()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        let tmp = path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&tensors.into_iter().collect(), &tmp)?;
        std::fs::rename(&tmp, path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Loads every variable from a safetensors file written by [`Params::save`]
    /// or by `safetensors.torch.save_file`. Every variable must be in the file
    /// with its shape; the error names the first that is missing or differs.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = candle_core::safetensors::load(path, &Device::Cpu)?;
        for (name, var) in self.named_vars() {
            let t = file.get(&name).ok_or_else(|| {
                Error::config(
                    "Params::load",
                    format!("{} has no tensor {name:?}", path.display()),
                )
            })?;
            if t.dims() != var.dims() {
                return Err(Error::shape(
                    format!("Params::load({})", path.display()),
                    name,
                    format!("{:?}", var.dims()),
                    t.dims(),
                ));
            }
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        Ok(())
    }
}

fn lock(vars: &VarMap) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Var>> {
    // A poisoned lock only means another thread panicked mid-insert; the map
    // itself is still a valid map.
    vars.data().lock().unwrap_or_else(|e| e.into_inner())
}

fn poisoned() -> Error {
    Error::config("Params", "the generator's lock was poisoned by a panic")
}

impl SimpleBackend for Params {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        hint: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut vars = lock(&self.vars);
        if let Some(var) = vars.get(name) {
            if var.shape() != &shape {
                candle_core::bail!(
                    "parameter {name} exists with shape {:?}, asked for {:?}",
                    var.dims(),
                    shape.dims()
                )
            }
            return Ok(var.as_tensor().clone());
        }
        let init = Init::from_hint(hint, &shape);
        let mut rng = self
            .rng
            .lock()
            .map_err(|_| candle_core::Error::msg(poisoned().to_string()))?;
        let t = init
            .sample(&shape, dtype, dev, &mut rng)
            .map_err(candle_core::Error::wrap)?;
        let var = Var::from_tensor(&t)?;
        let tensor = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match lock(&self.vars).get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("no parameter {name}: its shape is needed to create it"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        lock(&self.vars).contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, LinearConfig};

    fn build(seed: u64) -> Params {
        let p = Params::new(seed);
        let vb = p.var_builder(DType::F32, &Device::Cpu);
        Linear::new(LinearConfig::new(5, 3), vb.pp("fc")).unwrap();
        p
    }

    fn weight(p: &Params) -> Vec<f32> {
        let w = p.get("fc.weight").unwrap();
        w.as_tensor().flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn the_seed_decides_the_weights() {
        assert_eq!(weight(&build(1)), weight(&build(1)));
        assert_ne!(weight(&build(1)), weight(&build(2)));
    }

    #[test]
    fn save_then_load_restores_every_value() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("seq-params-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let a = build(1);
        a.save(&path)?;
        let b = build(2);
        b.load(&path)?;
        assert_eq!(weight(&a), weight(&b));
        assert!(!path.with_extension("safetensors.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
        Ok(())
    }

    #[test]
    fn load_names_a_missing_parameter() {
        let dir = std::env::temp_dir().join(format!("seq-params-miss-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.safetensors");
        Params::new(0).save(&path).unwrap();
        let err = build(1).load(&path).unwrap_err().to_string();
        assert!(
            err.contains("fc.bias") || err.contains("fc.weight"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
