//! PyTorch parity: `nn.RNN` (tanh, relu), `nn.LSTM` and `nn.GRU`, 2 layers,
//! bidirectional, batch-first, with and without packed (padded) batches.
//! Weights load under PyTorch's own names; outputs, final states and the
//! gradients of the input, the initial state and every parameter match the
//! f64 reference within 1e-10 in f64 and 1e-5 in f32. Fixtures:
//! `tests/fixtures/recurrent.py`.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use seq_core::testing::{load_fixture, max_abs_diff, parity_tolerance};
use seq_core::{Activation, Mode, Params, Result, Seq};
use seq_recurrent::{Engine, Gru, Lstm, Recurrent, RecurrentConfig, Rnn, State};

fn fixture_path(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "tests",
        "fixtures",
        "recurrent",
        name,
    ]
    .iter()
    .collect()
}

fn fixture(path: &std::path::Path, dtype: DType) -> HashMap<String, Tensor> {
    load_fixture(path, dtype).unwrap()
}

fn build(kind: &str, engine: Engine, params: &Params, dtype: DType) -> Result<Box<dyn Recurrent>> {
    let config = RecurrentConfig::new(3, 4)
        .with_layers(2)
        .with_bidirectional(true)
        .with_engine(engine);
    let vb = params.var_builder(dtype, &Device::Cpu);
    Ok(match kind {
        "lstm" => Box::new(Lstm::new(config, vb)?),
        "gru" => Box::new(Gru::new(config, vb)?),
        "rnn_tanh" => Box::new(Rnn::new(config, Activation::Tanh, vb)?),
        "rnn_relu" => Box::new(Rnn::new(config, Activation::Relu, vb)?),
        other => panic!("unknown kind {other}"),
    })
}

fn max_diff(name: &str, ours: &Tensor, theirs: &Tensor) -> f64 {
    max_abs_diff(ours, theirs).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Both dtypes and engines, on the full and on the packed batch.
fn check(kind: &str) -> Result<()> {
    for dtype in [DType::F64, DType::F32] {
        for engine in [Engine::Fused, Engine::Composed] {
            for packed in [false, true] {
                check_one(kind, engine, packed, dtype)?;
            }
        }
    }
    Ok(())
}

fn check_one(kind: &str, engine: Engine, packed: bool, dtype: DType) -> Result<()> {
    let path = fixture_path(&format!(
        "{kind}{}.safetensors",
        if packed { "_packed" } else { "" }
    ));
    let file = fixture(&path, dtype);
    let t = |name: &str| {
        file.get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
            .clone()
    };

    let params = Params::new(0);
    let layer = build(kind, engine, &params, dtype)?;
    // The state dict loads as PyTorch wrote it: no renaming.
    params.load(&path)?;

    let x = Var::from_tensor(&t("input"))?;
    let h0 = Var::from_tensor(&t("h0"))?;
    let c0 = file.get("c0").map(Var::from_tensor).transpose()?;
    let lengths: Vec<usize> = t("lengths")
        .to_vec1::<i64>()?
        .into_iter()
        .map(|l| l as usize)
        .collect();
    let xs = Seq::new(x.as_tensor().clone())?.with_lengths(&lengths)?;
    let initial = State {
        h: h0.as_tensor().clone(),
        c: c0.as_ref().map(|c| c.as_tensor().clone()),
    };

    let (out, state) = layer.forward_with_state(&xs, Some(&initial), Mode::Eval)?;
    let out = out.values();
    let mut errors = vec![
        ("output", max_diff("output", out, &t("output"))),
        ("h_n", max_diff("h_n", &state.h, &t("h_n"))),
    ];
    let mut loss = ((out * t("r_output"))?.sum_all()? + (&state.h * t("r_h"))?.sum_all()?)?;
    if let Some(c) = &state.c {
        errors.push(("c_n", max_diff("c_n", c, &t("c_n"))));
        loss = (loss + (c * t("r_c"))?.sum_all()?)?;
    }

    let grads = loss.backward()?;
    let mut checked: Vec<(String, Var)> = params.named_vars();
    checked.push(("input".into(), x));
    checked.push(("h0".into(), h0));
    if let Some(c0) = c0 {
        checked.push(("c0".into(), c0));
    }
    let mut grad_errors = Vec::new();
    for (name, var) in &checked {
        let ours = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{kind}: no gradient for {name}"));
        grad_errors.push((
            name.clone(),
            max_diff(name, ours, &t(&format!("grad.{name}"))),
        ));
    }
    assert_eq!(
        checked.len(),
        if kind == "lstm" { 19 } else { 18 },
        "every parameter of 2 bidirectional layers, input, state"
    );
    for (name, e) in errors
        .iter()
        .map(|(n, e)| (n.to_string(), *e))
        .chain(grad_errors)
    {
        assert!(
            e <= parity_tolerance(dtype),
            "{kind} {engine:?} {dtype:?} packed={packed}: {name} differs from PyTorch by {e:.2e}"
        );
    }
    Ok(())
}

#[test]
fn rnn_tanh_matches_pytorch() -> Result<()> {
    check("rnn_tanh")
}

#[test]
fn rnn_relu_matches_pytorch() -> Result<()> {
    check("rnn_relu")
}

#[test]
fn lstm_matches_pytorch() -> Result<()> {
    check("lstm")
}

#[test]
fn gru_matches_pytorch() -> Result<()> {
    check("gru")
}

/// Inference the way a PyTorch user loads a state dict: candle's own
/// `VarBuilder` over the `.safetensors` file, no `Params`, no renaming.
#[test]
fn a_pytorch_state_dict_loads_into_lstm_with_a_plain_var_builder() -> Result<()> {
    let path = fixture_path("lstm.safetensors");
    // SAFETY: the fixture is not modified while mapped.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, &Device::Cpu)?
    };
    let config = RecurrentConfig::new(3, 4)
        .with_layers(2)
        .with_bidirectional(true);
    let lstm = Lstm::new(config, vb)?;
    let file = fixture(&path, DType::F32);
    let initial = State::lstm(file["h0"].clone(), file["c0"].clone());
    let (out, state) = lstm.forward_with_state(
        &Seq::new(file["input"].clone())?,
        Some(&initial),
        Mode::Eval,
    )?;
    let tol = parity_tolerance(DType::F32);
    assert!(max_diff("output", out.values(), &file["output"]) <= tol);
    assert!(max_diff("c_n", state.c.as_ref().unwrap(), &file["c_n"]) <= tol);
    Ok(())
}
