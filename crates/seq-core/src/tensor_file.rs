//! [`TensorFile`]: the named tensors of a checkpoint file, safetensors or
//! PyTorch's `torch.save` zip (`.pth`, `.pt`, `.bin`), read one by one so
//! that tensors nobody asks for (masks, counters) are never converted.

use std::path::Path;

use candle_core::pickle::PthTensors;
use candle_core::safetensors::SliceSafetensors;
use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// The first bytes of a zip archive, which `torch.save` writes.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// A checkpoint file's tensors.
pub(crate) enum TensorFile {
    /// A safetensors file's bytes.
    Safetensors(Vec<u8>),
    /// A `torch.save` archive of a state dict, through candle's reader
    /// (which lists the tensors it can read: float and integer storages;
    /// others, such as bool buffers, are left out of [`TensorFile::names`]).
    Pth(PthTensors),
}

impl TensorFile {
    /// Opens `path`, telling the formats apart by their first bytes.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.starts_with(ZIP_MAGIC) {
            let pth = PthTensors::new(path, None).map_err(|e| {
                Error::file(path, format!("not a PyTorch state dict (torch.save): {e}"))
            })?;
            return Ok(TensorFile::Pth(pth));
        }
        SliceSafetensors::new(&bytes)
            .map_err(|e| Error::file(path, format!("not a safetensors file: {e}")))?;
        Ok(TensorFile::Safetensors(bytes))
    }

    /// The names of the file's tensors.
    pub(crate) fn names(&self) -> Result<Vec<String>> {
        Ok(match self {
            TensorFile::Safetensors(bytes) => SliceSafetensors::new(bytes)?
                .tensors()
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
            TensorFile::Pth(pth) => pth.tensor_infos().keys().cloned().collect(),
        })
    }

    /// The shape the file gives the tensor `name` (read before the tensor,
    /// so a shape that is not the model's is refused before anything of
    /// that size is allocated).
    pub(crate) fn dims(&self, name: &str) -> candle_core::Result<Vec<usize>> {
        match self {
            TensorFile::Safetensors(bytes) => {
                Ok(SliceSafetensors::new(bytes)?.get(name)?.shape().to_vec())
            }
            TensorFile::Pth(pth) => pth
                .tensor_infos()
                .get(name)
                .map(|info| info.layout.dims().to_vec())
                .ok_or_else(|| candle_core::Error::Msg(format!("no tensor {name}"))),
        }
    }

    /// The tensor `name`, on the CPU in the file's dtype.
    pub(crate) fn load(&self, name: &str) -> candle_core::Result<Tensor> {
        match self {
            TensorFile::Safetensors(bytes) => {
                SliceSafetensors::new(bytes)?.load(name, &Device::Cpu)
            }
            TensorFile::Pth(pth) => pth
                .get(name)?
                .ok_or_else(|| candle_core::Error::Msg(format!("no tensor {name}"))),
        }
    }
}
