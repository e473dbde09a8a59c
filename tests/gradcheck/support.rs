//! Helpers shared by the gradient checks.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use seq::core::{gradcheck, Params, Result};

/// Fresh f64 parameters on the CPU and a builder for them.
pub fn params(seed: u64) -> (Params, VarBuilder<'static>) {
    let p = Params::new(seed);
    let vb = p.var_builder(DType::F64, &Device::Cpu);
    (p, vb)
}

/// A standard normal f64 input variable of shape `dims`.
pub fn input(seed: u64, dims: &[usize]) -> Var {
    Var::from_tensor(&seq::core::testing::randn(seed, dims).unwrap()).unwrap()
}

/// Asserts that `f`'s gradients match finite differences for every
/// parameter in `params` and every named input.
pub fn assert_gradients(params: &Params, inputs: &[(&str, &Var)], f: impl Fn() -> Result<Tensor>) {
    let mut tensors = params.named_vars();
    tensors.extend(inputs.iter().map(|(n, v)| (n.to_string(), (*v).clone())));
    assert!(!tensors.is_empty(), "nothing to check");
    let report = gradcheck(&tensors, f).expect("the function runs");
    assert!(report.passed(), "gradient check failed:\n{report}");
}
