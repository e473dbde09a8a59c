//! Helpers for tests of seq layers, as `torch.testing`: seeded random
//! tensors, the largest difference between two tensors, and every
//! parameter's values.

use candle_core::{DType, Device, Tensor};

use crate::{Init, Result, Rng};

/// A tensor of standard normal values of shape `dims`, drawn with `seed`
/// (f64 on the CPU: the precision gradient checks need).
pub fn randn(seed: u64, dims: &[usize]) -> Result<Tensor> {
    Init::Normal {
        mean: 0.0,
        std: 1.0,
    }
    .sample(&dims.into(), DType::F64, &Device::Cpu, &mut Rng::new(seed))
}

/// `max |a - b|` over all elements, in f64; an error if the shapes differ.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.dims() != b.dims() {
        return Err(crate::Error::shape(
            "max_abs_diff",
            "second tensor",
            format!("{:?}", a.dims()),
            b.dims(),
        ));
    }
    let d = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?;
    Ok(if d.elem_count() == 0 {
        0.0
    } else {
        d.max(0)?.to_scalar::<f64>()?
    })
}

/// Every value of every parameter in `params`, in name order, as f64 (an
/// f32 value converts exactly): what tests compare between two runs.
pub fn param_values(params: &crate::Params) -> Result<Vec<f64>> {
    let mut values = Vec::new();
    for (_, v) in params.named_vars() {
        let t = v.as_tensor().flatten_all()?.to_dtype(DType::F64)?;
        values.extend(t.to_vec1::<f64>()?);
    }
    Ok(values)
}

/// How far a layer may be from an f64 PyTorch reference: `1e-10` computed
/// in f64, `1e-5` in f32 (single precision's own rounding).
pub fn parity_tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-10,
        _ => 1e-5,
    }
}

/// The tensors of a fixture file (safetensors, as PyTorch wrote them), the
/// floating-point ones converted to `dtype`; errors name the file.
pub fn load_fixture(
    path: &std::path::Path,
    dtype: DType,
) -> Result<std::collections::HashMap<String, Tensor>> {
    let file = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| crate::Error::file(path, e.to_string()))?;
    file.into_iter()
        .map(|(k, t)| {
            let t = if t.dtype().is_float() {
                t.to_dtype(dtype)?
            } else {
                t
            };
            Ok((k, t))
        })
        .collect()
}
