//! Helpers shared by the property tests.

use candle_core::{Device, Tensor};
use seq::core::Rng;

/// A standard normal f64 tensor of shape `dims` drawn with `seed`.
pub fn normal(seed: u64, dims: &[usize]) -> Tensor {
    let mut rng = Rng::new(seed);
    let n = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// The largest absolute difference between two tensors of one shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}
