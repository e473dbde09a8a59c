//! A model saved as a folder, in the Hugging Face convention:
//! `config.json` (the model's configuration, with its `model_type`) and
//! `model.safetensors` (its parameters under PyTorch's names). What else a
//! model needs to run (a `tokenizer.json`, a normaliser's statistics, label
//! names) goes beside them.
//!
//! [`save_pretrained`] writes any [`Pretrained`] model, [`from_pretrained`]
//! reads it back; `seq_data::hub::hub_pretrained` reads one from the Hub's
//! cache.
//!
//! ```
//! # fn main() -> seq_core::Result<()> {
//! use candle_core::{DType, Device, Tensor};
//! use seq_core::pretrained::{from_pretrained, save_pretrained};
//! use seq_core::{Linear, LinearConfig, Params};
//!
//! let params = Params::new(0);
//! let vb = params.var_builder(DType::F32, &Device::Cpu);
//! let layer = Linear::new(LinearConfig::new(3, 2), vb)?;
//! let dir = std::env::temp_dir().join("seq-doc-pretrained");
//! save_pretrained(&layer, &params, &dir)?;
//!
//! let (again, _params) = from_pretrained::<Linear>(&dir, DType::F32, &Device::Cpu)?;
//! let x = Tensor::ones((1, 3), DType::F32, &Device::Cpu)?;
//! assert_eq!(layer.apply(&x)?.to_vec2::<f32>()?, again.apply(&x)?.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Params, Result};

/// The configuration's file in a model folder.
pub const CONFIG_FILE: &str = "config.json";
/// The parameters' file in a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The largest `config.json` read (a configuration is a few kilobytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A model that its configuration rebuilds: its tensors are created under
/// a `VarBuilder`, so loading is building, then reading the weights.
pub trait Pretrained: Sized {
    /// The configuration, written to `config.json`; a struct, whose fields
    /// sit beside `model_type` there.
    type Config: Serialize + DeserializeOwned;

    /// The name written as `model_type` and checked when loading
    /// (`"lstm"`, `"transformer_seq2seq"`).
    const MODEL_TYPE: &'static str;

    /// Builds the model, its tensors under `vb`.
    fn build(config: &Self::Config, vb: VarBuilder) -> Result<Self>;

    /// The configuration the model was built with.
    fn pretrained_config(&self) -> Self::Config;
}

/// Writes `model` to the folder `dir` (created if needed): `config.json`
/// with its configuration and `model_type`, and `model.safetensors` with
/// `params` (the parameters it was built from). Both are written atomically.
pub fn save_pretrained<M: Pretrained>(model: &M, params: &Params, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(CONFIG_FILE);
    let serde_json::Value::Object(fields) = serde_json::to_value(model.pretrained_config())
        .map_err(|e| Error::file(&path, format!("cannot serialize the configuration: {e}")))?
    else {
        return Err(Error::config(
            M::MODEL_TYPE,
            "a pretrained model's configuration must serialize to a JSON object",
        ));
    };
    let mut json = serde_json::Map::new();
    json.insert("model_type".into(), M::MODEL_TYPE.into());
    json.extend(fields);
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::file(&path, format!("cannot serialize the configuration: {e}")))?;
    crate::fs::write_atomic(&path, text.as_bytes())?;
    params.save(dir.join(WEIGHTS_FILE))
}

/// Reads a model folder written by [`save_pretrained`]: builds the model
/// from `config.json` (whose `model_type` must be `M`'s) and loads every
/// parameter from `model.safetensors` (strictly: all must be there). Returns
/// the model and its parameters (to train further or save again).
pub fn from_pretrained<M: Pretrained>(
    dir: &Path,
    dtype: DType,
    device: &Device,
) -> Result<(M, Params)> {
    from_files(
        &dir.join(CONFIG_FILE),
        &dir.join(WEIGHTS_FILE),
        dtype,
        device,
    )
}

/// [`from_pretrained`] from the two files wherever they lie (a Hub cache
/// keeps each file under its own name).
pub fn from_files<M: Pretrained>(
    config: &Path,
    weights: &Path,
    dtype: DType,
    device: &Device,
) -> Result<(M, Params)> {
    let config_of = read_config::<M>(config)?;
    let params = Params::new(0);
    let model = M::build(&config_of, params.var_builder(dtype, device))?;
    params.load(weights)?;
    Ok((model, params))
}

/// The configuration in `path`, checked to be `M`'s.
fn read_config<M: Pretrained>(path: &Path) -> Result<M::Config> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_CONFIG_BYTES {
        return Err(Error::file(
            path,
            format!("{size} bytes; a configuration is at most {MAX_CONFIG_BYTES}"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| Error::file(path, e.to_string()))?;
    match json.remove("model_type") {
        Some(serde_json::Value::String(t)) if t == M::MODEL_TYPE => {}
        Some(other) => {
            return Err(Error::file(
                path,
                format!("model_type {other}, expected \"{}\"", M::MODEL_TYPE),
            ))
        }
        None => {
            return Err(Error::file(
                path,
                format!("no model_type (expected \"{}\")", M::MODEL_TYPE),
            ))
        }
    }
    serde_json::from_value(json.into()).map_err(|e| Error::file(path, e.to_string()))
}
