//! Helpers for tests of seq layers, as `torch.testing`: seeded random
//! tensors and the largest difference between two tensors.

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
