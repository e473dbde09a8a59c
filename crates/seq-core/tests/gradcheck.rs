//! Self-tests of `gradcheck`: it passes on functions whose gradients are
//! known, and it FAILS where candle's backward is wrong or missing.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor, Var};
use seq_core::{gradcheck, Gradcheck, Result};

fn var(values: &[f64], dims: &[usize]) -> Var {
    Var::from_tensor(&Tensor::from_slice(values, dims, &Device::Cpu).unwrap()).unwrap()
}

fn named(vars: &[(&str, &Var)]) -> Vec<(String, Var)> {
    vars.iter()
        .map(|(n, v)| (n.to_string(), (*v).clone()))
        .collect()
}

#[test]
fn passes_on_functions_with_known_gradients() -> Result<()> {
    let x = var(&[0.3, -1.2, 0.7, 2.0, -0.4, 0.1], &[2, 3]);
    let w = var(&[0.5, -0.2, 0.1, 0.9, -0.7, 0.3], &[3, 2]);
    // d/dx sum(R * x^3) = 3 R x^2; d tanh(xW) by the chain rule; exp and a quotient.
    let report = gradcheck(&named(&[("x", &x)]), || Ok(x.as_tensor().powf(3.0)?))?;
    assert!(report.passed(), "{report}");
    let report = gradcheck(&named(&[("x", &x), ("w", &w)]), || {
        Ok(x.as_tensor().matmul(w.as_tensor())?.tanh()?)
    })?;
    assert!(report.passed(), "{report}");
    let report = gradcheck(&named(&[("x", &x)]), || {
        let e = x.as_tensor().exp()?;
        Ok(e.broadcast_div(&(e.sum_keepdim(1)? + 1.0)?)?)
    })?;
    assert!(report.passed(), "{report}");
    Ok(())
}

/// `y = x^3` with a deliberately wrong backward: `2 x^2` instead of `3 x^2`.
struct WrongCube;

impl CustomOp1 for WrongCube {
    fn name(&self) -> &'static str {
        "wrong-cube"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::msg("contiguous input only"))?;
        let x = &s.as_slice::<f64>()?[start..end];
        let y: Vec<f64> = x.iter().map(|v| v * v * v).collect();
        Ok((CpuStorage::F64(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(((x.sqr()? * 2.0)? * g)?))
    }
}

#[test]
fn fails_on_a_wrong_backward() -> Result<()> {
    let x = var(&[0.3, -1.2, 0.7, 2.0], &[4]);
    let report = gradcheck(&named(&[("x", &x)]), || {
        Ok(x.as_tensor().apply_op1(WrongCube)?)
    })?;
    assert!(!report.passed(), "a wrong backward passed:\n{report}");
    let t = &report.tensors[0];
    assert!(!t.missing);
    // The analytic gradient is 2/3 of the true one: relative error 1/3.
    assert!((t.max_rel_err - 1.0 / 3.0).abs() < 1e-6, "{report}");
    Ok(())
}

#[test]
fn fails_when_candle_drops_the_gradient_of_fused_softmax() -> Result<()> {
    let x = var(&[0.3, -1.2, 0.7, 2.0, -0.4, 0.1], &[2, 3]);
    let report = gradcheck(&named(&[("x", &x)]), || {
        Ok(candle_nn::ops::softmax_last_dim(x.as_tensor())?)
    })?;
    assert!(!report.passed(), "a missing gradient passed:\n{report}");
    assert!(report.tensors[0].missing, "{report}");
    // seq's own softmax, a composition, has the gradient.
    let report = gradcheck(&named(&[("x", &x)]), || seq_core::softmax(x.as_tensor()))?;
    assert!(report.passed(), "{report}");
    Ok(())
}

#[test]
fn a_parameter_the_output_ignores_fails_unless_allowed() -> Result<()> {
    let x = var(&[0.3, -1.2], &[2]);
    let unused = var(&[1.0], &[1]);
    let vars = named(&[("x", &x), ("unused", &unused)]);
    let f = || Ok(x.as_tensor().sqr()?);
    let strict = gradcheck(&vars, f)?;
    assert!(!strict.passed() && strict.tensors[1].missing, "{strict}");
    let lenient = Gradcheck {
        allow_unused: true,
        ..Gradcheck::default()
    }
    .run(&vars, f)?;
    assert!(lenient.passed(), "{lenient}");
    Ok(())
}

#[test]
fn refuses_f32_and_restores_the_variables() -> Result<()> {
    let x32 = Var::from_tensor(&Tensor::ones(3, DType::F32, &Device::Cpu)?)?;
    assert!(gradcheck(&[("x".into(), x32.clone())], || Ok(x32.as_tensor().clone())).is_err());
    let x = var(&[0.3, -1.2], &[2]);
    gradcheck(&named(&[("x", &x)]), || Ok(x.as_tensor().exp()?))?;
    assert_eq!(x.as_tensor().to_vec1::<f64>()?, vec![0.3, -1.2]);
    Ok(())
}

#[test]
fn catches_candles_gelu_gradient_and_passes_seqs() -> Result<()> {
    // candle 0.11.1's `gelu_erf` backward uses a rounded 1/sqrt(2 pi): its
    // derivative is off by up to 1.7e-7, which the default tolerances catch.
    let values: Vec<f64> = (0..48).map(|i| -3.0 + 0.125 * i as f64 + 0.01).collect();
    let x = var(&values, &[6, 8]);
    let w = var(
        &values[..32]
            .iter()
            .map(|v| 0.3 * v.sin())
            .collect::<Vec<_>>(),
        &[8, 4],
    );
    let vars = named(&[("x", &x), ("w", &w)]);
    let pre = || Ok::<_, seq_core::Error>(x.as_tensor().matmul(w.as_tensor())?);
    let candle = gradcheck(&vars, || Ok(pre()?.gelu_erf()?))?;
    assert!(!candle.passed(), "candle's GELU passed:\n{candle}");
    let seq = gradcheck(&vars, || seq_core::Activation::Gelu.apply(&pre()?))?;
    assert!(seq.passed(), "{seq}");
    println!("candle:\n{candle}seq:\n{seq}");
    Ok(())
}
