//! Helpers shared by the property tests.

use candle_core::Tensor;

/// A standard normal f64 tensor of shape `dims` drawn with `seed`.
pub fn normal(seed: u64, dims: &[usize]) -> Tensor {
    seq::core::testing::randn(seed, dims).unwrap()
}

/// The largest absolute difference between two tensors of one shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    seq::core::testing::max_abs_diff(a, b).unwrap()
}
