//! Layer behaviour: cells agree with layers, the Elman output layer, state
//! handling, and clear errors for bad input.

use candle_core::{DType, Device, IndexOp, Tensor};
use seq_core::{Activation, Mode, Params, Result, Seq};
use seq_recurrent::{
    Cell, CellConfig, CellKind, GruCell, Lstm, LstmCell, Recurrent, RecurrentConfig, Rnn, RnnCell,
    RnnCellConfig, State,
};

fn normal(seed: u64, dims: &[usize]) -> Tensor {
    seq_core::testing::randn(seed, dims).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    seq_core::testing::max_abs_diff(a, b).unwrap()
}

/// A one-layer layer and a cell built from the same parameters agree step
/// by step (the layer's `_l0` weights copied into the cell's bare names).
#[test]
fn a_layer_unrolls_its_cell() -> Result<()> {
    for kind in [
        CellKind::Rnn(Activation::Tanh),
        CellKind::Lstm,
        CellKind::Gru,
    ] {
        let p = Params::new(1);
        let layer = kind.build(
            RecurrentConfig::new(3, 4),
            p.var_builder(DType::F64, &Device::Cpu).pp("layer"),
        )?;
        let q = Params::new(2);
        let vb = q.var_builder(DType::F64, &Device::Cpu);
        let cell: Box<dyn Cell> = match kind {
            CellKind::Rnn(_) => Box::new(RnnCell::new(RnnCellConfig::new(3, 4), vb)?),
            CellKind::Lstm => Box::new(LstmCell::new(CellConfig::new(3, 4), vb)?),
            CellKind::Gru => Box::new(GruCell::new(CellConfig::new(3, 4), vb)?),
        };
        for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            let src = p.get(&format!("layer.{name}_l0")).unwrap();
            q.get(name).unwrap().set(src.as_tensor())?;
        }
        let x = normal(3, &[2, 5, 3]);
        let (out, last) = layer.forward_with_state(&Seq::new(x.clone())?, None, Mode::Eval)?;
        let mut state = cell.zero_state(2)?;
        for t in 0..5 {
            state = cell.step(&x.i((.., t, ..))?, &state)?;
            assert!(
                max_diff(&state.h, &out.values().i((.., t, ..))?) < 1e-12,
                "{kind:?} step {t}"
            );
        }
        assert!(max_diff(&state.h, &last.h.i(0)?) < 1e-12);
    }
    Ok(())
}

/// `y<t> = g2(W_ya a<t> + b_y)` computed by hand.
#[test]
fn the_elman_output_layer_is_g2_of_an_affine_map() -> Result<()> {
    let p = Params::new(4);
    let cfg = RnnCellConfig::new(3, 4).with_output(2, Activation::Softmax);
    let cell = RnnCell::new(cfg, p.var_builder(DType::F64, &Device::Cpu))?;
    let a = normal(5, &[6, 4]);
    let y = cell.output(&a)?.unwrap();
    let w = p.get("output.weight").unwrap();
    let b = p.get("output.bias").unwrap();
    let z: Vec<Vec<f64>> = a
        .matmul(&w.as_tensor().t()?)?
        .broadcast_add(b.as_tensor())?
        .to_vec2()?;
    let y: Vec<Vec<f64>> = y.to_vec2()?;
    for (zr, yr) in z.iter().zip(&y) {
        let s: f64 = zr.iter().map(|v| v.exp()).sum();
        for (zv, yv) in zr.iter().zip(yr) {
            assert!((zv.exp() / s - yv).abs() < 1e-12);
        }
    }
    // a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b_a), written out.
    let x = normal(6, &[6, 3]);
    let a1 = cell.step(&x, &State::new(a.clone()))?.h;
    let g = |n: &str| p.get(n).unwrap().as_tensor().clone();
    let want = (a.matmul(&g("weight_hh").t()?)? + x.matmul(&g("weight_ih").t()?)?)?
        .broadcast_add(&(g("bias_ih") + g("bias_hh"))?)?
        .tanh()?;
    assert!(max_diff(&a1, &want) < 1e-12);
    Ok(())
}

#[test]
fn outputs_and_states_have_pytorch_shapes() -> Result<()> {
    let p = Params::new(0);
    let cfg = RecurrentConfig::new(5, 7)
        .with_layers(3)
        .with_bidirectional(true);
    let lstm = Lstm::new(cfg, p.var_builder(DType::F32, &Device::Cpu))?;
    let x = Tensor::zeros((4, 6, 5), DType::F32, &Device::Cpu)?;
    let (out, state) = lstm.forward_with_state(&Seq::new(x)?, None, Mode::Eval)?;
    assert_eq!(out.values().dims(), [4, 6, 14]);
    assert_eq!(state.h.dims(), [6, 4, 7]);
    assert_eq!(state.c.map(|c| c.dims().to_vec()), Some(vec![6, 4, 7]));
    assert_eq!(
        p.num_params(),
        4 * 7 * (5 + 7 + 2) * 2 + 2 * 2 * 4 * 7 * (14 + 7 + 2)
    );
    Ok(())
}

#[test]
fn the_initial_state_is_used() -> Result<()> {
    let p = Params::new(0);
    let rnn = Rnn::new(
        RecurrentConfig::new(2, 3),
        Activation::Tanh,
        p.var_builder(DType::F64, &Device::Cpu),
    )?;
    let x = Seq::new(normal(1, &[2, 4, 2]))?;
    let zero = rnn.forward_with_state(&x, None, Mode::Eval)?.0;
    let h0 = State::new(normal(2, &[1, 2, 3]));
    let other = rnn.forward_with_state(&x, Some(&h0), Mode::Eval)?.0;
    assert!(max_diff(zero.values(), other.values()) > 1e-3);
    Ok(())
}

#[test]
fn dropout_acts_between_layers_in_training_only() -> Result<()> {
    let p = Params::new(0);
    let cfg = RecurrentConfig::new(3, 8)
        .with_layers(2)
        .with_dropout(0.5, 7);
    let lstm = Lstm::new(cfg, p.var_builder(DType::F64, &Device::Cpu))?;
    let x = Seq::new(normal(1, &[2, 4, 3]))?;
    let eval =
        |m| Ok::<_, seq_core::Error>(seq_core::Module::forward(&lstm, &x, m)?.into_parts().0);
    assert_eq!(max_diff(&eval(Mode::Eval)?, &eval(Mode::Eval)?), 0.0);
    assert!(max_diff(&eval(Mode::Train)?, &eval(Mode::Eval)?) > 1e-4);
    // One layer: nothing to drop between.
    let one = Lstm::new(
        RecurrentConfig::new(3, 8).with_dropout(0.5, 7),
        p.var_builder(DType::F64, &Device::Cpu).pp("one"),
    )?;
    let a = seq_core::Module::forward(&one, &x, Mode::Train)?
        .into_parts()
        .0;
    let b = seq_core::Module::forward(&one, &x, Mode::Eval)?
        .into_parts()
        .0;
    assert_eq!(max_diff(&a, &b), 0.0);
    Ok(())
}

#[test]
fn bad_input_names_the_layer_and_both_shapes() -> Result<()> {
    let p = Params::new(0);
    let cfg = RecurrentConfig::new(64, 8).with_layers(2);
    let lstm = Lstm::new(cfg, p.var_builder(DType::F32, &Device::Cpu))?;
    let x = Seq::new(Tensor::zeros((32, 100, 48), DType::F32, &Device::Cpu)?)?;
    let err = lstm
        .forward_with_state(&x, None, Mode::Eval)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "Lstm expected input [batch, time, 64], got [32, 100, 48]"
    );

    let x = Seq::new(Tensor::zeros((3, 5, 64), DType::F32, &Device::Cpu)?)?;
    let bad = State::lstm(
        Tensor::zeros((2, 4, 8), DType::F32, &Device::Cpu)?,
        Tensor::zeros((2, 3, 8), DType::F32, &Device::Cpu)?,
    );
    let err = lstm
        .forward_with_state(&x, Some(&bad), Mode::Eval)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Lstm") && err.contains("[2, 3, 8]") && err.contains("[2, 4, 8]"),
        "{err}"
    );
    let no_c = State::new(Tensor::zeros((2, 3, 8), DType::F32, &Device::Cpu)?);
    assert!(lstm
        .forward_with_state(&x, Some(&no_c), Mode::Eval)
        .is_err());

    let cell = LstmCell::new(
        CellConfig::new(4, 8),
        p.var_builder(DType::F32, &Device::Cpu).pp("cell"),
    )?;
    let err = cell
        .step(
            &Tensor::zeros((2, 5), DType::F32, &Device::Cpu)?,
            &cell.zero_state(2)?,
        )
        .unwrap_err()
        .to_string();
    assert_eq!(err, "LstmCell expected input [batch, 4], got [2, 5]");
    assert!(Lstm::new(
        RecurrentConfig::new(4, 8).with_layers(0),
        p.var_builder(DType::F32, &Device::Cpu).pp("z")
    )
    .is_err());
    assert!(Lstm::new(
        RecurrentConfig::new(4, 8).with_dropout(1.5, 0),
        p.var_builder(DType::F32, &Device::Cpu).pp("d")
    )
    .is_err());
    Ok(())
}
