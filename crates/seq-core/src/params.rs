//! [`Params`]: a model's parameters, created from a seeded generator, saved
//! and loaded as safetensors under PyTorch's names.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};

use crate::tensor_file::TensorFile;
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
    /// Names of the frozen variables (shared by the clones).
    frozen: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl Params {
    /// Empty parameters whose variables will be drawn with `seed`.
    pub fn new(seed: u64) -> Self {
        Params {
            vars: VarMap::new(),
            rng: Arc::new(Mutex::new(Rng::new(seed))),
            frozen: Arc::default(),
        }
    }

    /// Parameters over an existing candle `VarMap` (shared, not copied: the
    /// variables a candle-nn program made are the ones seq trains and
    /// saves); variables created later are drawn with `seed`.
    pub fn from_varmap(vars: VarMap, seed: u64) -> Self {
        Params {
            vars,
            ..Params::new(seed)
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

    /// Freezes every variable whose name starts with `prefix` (`""`: all):
    /// training leaves them as they are (PyTorch's `requires_grad_(False)`).
    /// Returns how many; none is an error naming the prefix.
    pub fn freeze(&self, prefix: &str) -> Result<usize> {
        self.set_frozen(prefix, true)
    }

    /// Unfreezes the variables whose names start with `prefix`.
    pub fn unfreeze(&self, prefix: &str) -> Result<usize> {
        self.set_frozen(prefix, false)
    }

    fn set_frozen(&self, prefix: &str, frozen: bool) -> Result<usize> {
        let names: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
        if names.is_empty() {
            return Err(Error::config(
                "Params::freeze",
                format!("no parameter starts with {prefix:?}"),
            ));
        }
        let mut set = self.frozen.lock().unwrap_or_else(|e| e.into_inner());
        for n in &names {
            match frozen {
                true => set.insert(n.clone()),
                false => set.remove(n),
            };
        }
        Ok(names.len())
    }

    /// Whether the variable `name` is frozen.
    pub fn is_frozen(&self, name: &str) -> bool {
        let set = self.frozen.lock().unwrap_or_else(|e| e.into_inner());
        set.contains(name)
    }

    /// The variables that are not frozen, sorted by name.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.named_vars()
            .into_iter()
            .filter(|(n, _)| !self.is_frozen(n))
            .collect()
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

    /// Writes every variable to a safetensors file, atomically: see
    /// [`crate::fs`] (a crash mid-save leaves any previous file whole).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let vars = self.named_vars();
        let bytes = serialize(vars.iter().map(|(n, v)| (n.as_str(), v.as_tensor())), path)?;
        crate::fs::write_atomic(path, &bytes)
    }

    /// Loads every variable from a safetensors file written by [`Params::save`]
    /// or by `safetensors.torch.save_file`, or from a state dict saved by
    /// `torch.save` (`.pth`): [`Params::load_with`] with the
    /// default [`LoadOptions`] (every parameter must be in the file; other
    /// tensors, of any dtype, are left alone).
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        self.load_with(path, &LoadOptions::new()).map(|_| ())
    }

    /// Loads the variables from a safetensors file or a `torch.save` state
    /// dict (told apart by their first bytes; the latter read by candle,
    /// which skips tensors of storages it does not read, such as bool),
    /// matching its names through `options`, and reports what did not match
    /// (PyTorch's `load_state_dict`).
    ///
    /// All or nothing: every tensor is read, checked (shape, a float dtype,
    /// finite values) and converted before any variable changes, so a load
    /// that fails leaves every parameter as it was. Only the tensors the
    /// model needs are read; others (masks, integer buffers) may be of any
    /// dtype. Errors name the file and the tensor.
    pub fn load_with(&self, path: impl AsRef<Path>, options: &LoadOptions) -> Result<LoadReport> {
        let path = path.as_ref();
        let file = TensorFile::open(path)?;
        let mut in_file: HashMap<String, String> = HashMap::new();
        for key in file.names()? {
            if let Some(name) = options.model_name(&key) {
                in_file.insert(name, key);
            }
        }
        let mut report = LoadReport::default();
        let mut staged = Vec::new();
        for (name, var) in self.named_vars() {
            let Some(key) = in_file.remove(&name) else {
                report.missing.push(name);
                continue;
            };
            let bad = |why: String| Error::file(path, format!("tensor {key:?}: {why}"));
            let dims = file.dims(&key).map_err(|e| bad(e.to_string()))?;
            if dims != var.dims() {
                return Err(bad(format!(
                    "shape {dims:?}, the model's {name} is {:?}",
                    var.dims()
                )));
            }
            let t = file.load(&key).map_err(|e| bad(e.to_string()))?;
            if !t.dtype().is_float() {
                return Err(bad(format!(
                    "dtype {:?}, a parameter needs floats",
                    t.dtype()
                )));
            }
            let t = t.to_dtype(var.dtype())?;
            if !all_finite(&t)? {
                return Err(bad("holds values that are not finite".into()));
            }
            let t = t.to_device(var.device())?;
            staged.push((var, t));
        }
        report.unexpected = in_file.into_values().collect();
        report.unexpected.sort();
        if options.strict && !report.missing.is_empty() {
            return Err(Error::file(
                path,
                format!(
                    "no tensor for {} of the model's parameters: {}",
                    report.missing.len(),
                    list(&report.missing)
                ),
            ));
        }
        for (var, t) in staged {
            var.set(&t)?;
        }
        Ok(report)
    }
}

/// How [`Params::load_with`] matches a file's tensors to the parameters.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    strict: bool,
    prefix: Option<String>,
    renames: Vec<(String, String)>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadOptions {
    /// Strict, no prefix, no renames.
    pub fn new() -> Self {
        LoadOptions {
            strict: true,
            prefix: None,
            renames: Vec::new(),
        }
    }

    /// Whether every parameter must be found in the file (default `true`).
    /// Not strict, the parameters the file lacks keep their values and are
    /// listed in [`LoadReport::missing`] (PyTorch's `strict=False`).
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Reads only the file's tensors whose names start with `prefix`, with
    /// the prefix taken off (`"encoder."` loads an encoder out of a whole
    /// model's file). Default: none.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Renames the file's tensors whose names (after the prefix) start with
    /// `from` to start with `to` instead; the first matching rule applies.
    /// Default: none.
    pub fn with_rename(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.renames.push((from.into(), to.into()));
        self
    }

    /// The parameter a key of the file stands for, if any.
    fn model_name(&self, key: &str) -> Option<String> {
        let key = match &self.prefix {
            Some(p) => key.strip_prefix(p.as_str())?,
            None => key,
        };
        for (from, to) in &self.renames {
            if let Some(rest) = key.strip_prefix(from.as_str()) {
                return Some(format!("{to}{rest}"));
            }
        }
        Some(key.to_string())
    }
}

/// What [`Params::load_with`] did not match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Parameters with no tensor in the file (they kept their values).
    pub missing: Vec<String>,
    /// Tensors of the file (their names in the file) that no parameter took.
    pub unexpected: Vec<String>,
}

/// The safetensors bytes of `tensors`; `path` names the file in errors.
pub(crate) fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    path: &Path,
) -> Result<Vec<u8>> {
    safetensors::serialize(tensors, None)
        .map_err(|e| Error::file(path, format!("cannot serialize the tensors: {e}")))
}

/// Whether every value of `t` is finite (no NaN, no infinity); integer
/// tensors always are.
pub fn all_finite(t: &Tensor) -> Result<bool> {
    let flat = t.flatten_all()?;
    Ok(match t.dtype() {
        DType::F64 => flat.to_vec1::<f64>()?.iter().all(|v| v.is_finite()),
        d if d.is_float() => flat
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite()),
        _ => true,
    })
}

/// The first few of `names`, for an error message.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
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
        let t = init.sample(&shape, dtype, dev, &mut rng).map_err(|e| {
            candle_core::Error::msg(format!("parameter {name} of shape {:?}: {e}", shape.dims()))
        })?;
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
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "a temporary file is left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        Ok(())
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("seq-params-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A safetensors file written by hand: `(name, dtype, shape, bytes)`.
    fn raw_file(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
        let (mut header, mut data) = (Vec::new(), Vec::new());
        for (name, dtype, shape, bytes) in tensors {
            let (a, b) = (data.len(), data.len() + bytes.len());
            header.push(format!(
                "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{a},{b}]}}"
            ));
            data.extend_from_slice(bytes);
        }
        let mut h = format!("{{{}}}", header.join(",")).into_bytes();
        while h.len() % 8 != 0 {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend(h);
        out.extend(data);
        std::fs::write(path, out).unwrap();
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn a_failed_load_changes_no_parameter() {
        let dir = temp("atomic");
        let p = build(1);
        let before = (
            weight(&p),
            p.get("fc.bias")
                .unwrap()
                .as_tensor()
                .to_vec1::<f32>()
                .unwrap(),
        );
        // The weight is good and sorts first; the bias has the wrong shape.
        let path = dir.join("bad-shape.safetensors");
        raw_file(
            &path,
            &[
                ("fc.weight", "F32", vec![3, 5], f32_bytes(&[7.0; 15])),
                ("fc.bias", "F32", vec![4], f32_bytes(&[7.0; 4])),
            ],
        );
        let err = p.load(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad-shape.safetensors") && err.contains("fc.bias"),
            "{err}"
        );
        // A NaN in the bias.
        let path = dir.join("nan.safetensors");
        raw_file(
            &path,
            &[
                ("fc.weight", "F32", vec![3, 5], f32_bytes(&[7.0; 15])),
                ("fc.bias", "F32", vec![3], f32_bytes(&[7.0, f32::NAN, 7.0])),
            ],
        );
        let err = p.load(&path).unwrap_err().to_string();
        assert!(
            err.contains("not finite") && err.contains("fc.bias"),
            "{err}"
        );
        // Not a safetensors file at all.
        let path = dir.join("text.safetensors");
        std::fs::write(&path, "hello").unwrap();
        let err = p.load(&path).unwrap_err().to_string();
        assert!(err.contains("text.safetensors"), "{err}");
        let after = (
            weight(&p),
            p.get("fc.bias")
                .unwrap()
                .as_tensor()
                .to_vec1::<f32>()
                .unwrap(),
        );
        let bits = |v: &(Vec<f32>, Vec<f32>)| {
            v.0.iter()
                .chain(&v.1)
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&before), bits(&after));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_tensors_of_any_dtype_are_left_alone_and_reported() -> Result<()> {
        let dir = temp("extra");
        let path = dir.join("torch.safetensors");
        raw_file(
            &path,
            &[
                (
                    "model.fc.weight",
                    "F64",
                    vec![3, 5],
                    (0..15).flat_map(|i| (i as f64).to_le_bytes()).collect(),
                ),
                ("model.fc.bias", "F32", vec![3], f32_bytes(&[1.0, 2.0, 3.0])),
                ("model.mask", "BOOL", vec![2], vec![1, 0]),
                ("steps", "I64", vec![1], 5i64.to_le_bytes().to_vec()),
            ],
        );
        let p = build(1);
        // Strict by default: no tensor is called fc.weight.
        assert!(p.load(&path).is_err());
        let report = p.load_with(&path, &LoadOptions::new().with_prefix("model."))?;
        assert_eq!(report.missing, Vec::<String>::new());
        assert_eq!(report.unexpected, ["model.mask"]);
        assert_eq!(weight(&p), (0..15).map(|i| i as f32).collect::<Vec<_>>());

        // Renamed, and not strict: the bias is missing and keeps its value.
        let q = build(2);
        let bias = q.get("fc.bias").unwrap().as_tensor().to_vec1::<f32>()?;
        raw_file(
            &path,
            &[("enc.w.weight", "F32", vec![3, 5], f32_bytes(&[0.5; 15]))],
        );
        let options = LoadOptions::new().with_rename("enc.w.", "fc.");
        assert!(q.load_with(&path, &options).is_err());
        let report = q.load_with(&path, &options.with_strict(false))?;
        assert_eq!(report.missing, ["fc.bias"]);
        assert_eq!(weight(&q), vec![0.5; 15]);
        assert_eq!(
            q.get("fc.bias").unwrap().as_tensor().to_vec1::<f32>()?,
            bias
        );
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
