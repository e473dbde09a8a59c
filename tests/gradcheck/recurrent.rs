//! Gradient checks of seq-recurrent: every cell, and every layer with
//! masks, both directions, stacking and an initial state.

use candle_core::Tensor;
use seq::core::{Activation, Mode, Seq};
use seq::recurrent::topology::{self, Readout};
use seq::recurrent::{
    Cell, CellConfig, CellKind, Engine, GruCell, LstmCell, RecurrentConfig, RnnCell, RnnCellConfig,
    State,
};

use crate::support::{assert_gradients, input, params};

#[test]
fn rnn_cell_with_its_output_layer() {
    let (p, vb) = params(1);
    let cfg = RnnCellConfig::new(3, 4).with_output(2, Activation::Sigmoid);
    let cell = RnnCell::new(cfg, vb).unwrap();
    let (x, h) = (input(2, &[2, 3]), input(3, &[2, 4]));
    assert_gradients(&p, &[("x", &x), ("h", &h)], || {
        let a = cell
            .step(x.as_tensor(), &State::new(h.as_tensor().clone()))?
            .h;
        Ok(cell.output(&a)?.expect("an output layer"))
    });
}

#[test]
fn lstm_cell() {
    let (p, vb) = params(4);
    let cell = LstmCell::new(CellConfig::new(3, 4), vb).unwrap();
    let (x, h, c) = (input(5, &[2, 3]), input(6, &[2, 4]), input(7, &[2, 4]));
    assert_gradients(&p, &[("x", &x), ("h", &h), ("c", &c)], || {
        let s = cell.step(
            x.as_tensor(),
            &State::lstm(h.as_tensor().clone(), c.as_tensor().clone()),
        )?;
        Ok(Tensor::cat(&[s.h, s.c.expect("lstm state")], 1)?)
    });
}

#[test]
fn gru_cell() {
    let (p, vb) = params(8);
    let cell = GruCell::new(CellConfig::new(3, 4), vb).unwrap();
    let (x, h) = (input(9, &[2, 3]), input(10, &[2, 4]));
    assert_gradients(&p, &[("x", &x), ("h", &h)], || {
        Ok(cell
            .step(x.as_tensor(), &State::new(h.as_tensor().clone()))?
            .h)
    });
}

/// Two stacked bidirectional layers on a padded batch from a given initial
/// state, with each engine; the check covers outputs and the final state.
fn check_layer(kind: CellKind, seed: u64) {
    check_engine(kind, Engine::Fused, seed);
    check_engine(kind, Engine::Composed, seed);
}

fn check_engine(kind: CellKind, engine: Engine, seed: u64) {
    let (p, vb) = params(seed);
    let cfg = RecurrentConfig::new(3, 3)
        .with_layers(2)
        .with_bidirectional(true)
        .with_engine(engine);
    let layer = kind.build(cfg, vb).unwrap();
    let x = input(seed + 1, &[3, 4, 3]);
    let h0 = input(seed + 2, &[4, 3, 3]);
    let c0 = input(seed + 3, &[4, 3, 3]);
    let with_c = kind == CellKind::Lstm;
    let mut inputs = vec![("x", &x), ("h0", &h0)];
    if with_c {
        inputs.push(("c0", &c0));
    }
    assert_gradients(&p, &inputs, || {
        let xs = Seq::new(x.as_tensor().clone())?.with_lengths(&[4, 2, 3])?;
        let initial = State {
            h: h0.as_tensor().clone(),
            c: with_c.then(|| c0.as_tensor().clone()),
        };
        let (out, state) = layer.forward_with_state(&xs, Some(&initial), Mode::Eval)?;
        let mut parts = vec![out.values().flatten_all()?, state.h.flatten_all()?];
        parts.extend(state.c.map(|c| c.flatten_all()).transpose()?);
        Ok(Tensor::cat(&parts, 0)?)
    });
}

#[test]
fn rnn_layers_tanh_and_relu() {
    check_layer(CellKind::Rnn(Activation::Tanh), 20);
    check_layer(CellKind::Rnn(Activation::Relu), 30);
}

#[test]
fn lstm_layers() {
    check_layer(CellKind::Lstm, 40);
}

#[test]
fn gru_layers() {
    check_layer(CellKind::Gru, 50);
}

#[test]
fn many_to_one_readouts_through_padding() {
    let x = input(60, &[3, 4, 2]);
    for how in [Readout::Last, Readout::Mean, Readout::Max] {
        let (p, _) = params(0);
        assert_gradients(&p, &[("x", &x)], || {
            let xs = Seq::new(x.as_tensor().clone())?.with_lengths(&[4, 1, 3])?;
            topology::readout(&xs, how)
        });
    }
}

#[test]
fn seq2seq_with_additive_and_multiplicative_attention() {
    let src = Tensor::new(&[[3u32, 4, 5, 0], [6, 3, 0, 0]], &candle_core::Device::Cpu).unwrap();
    let tgt_in = Tensor::new(&[[1u32, 4, 3], [1, 5, 0]], &candle_core::Device::Cpu).unwrap();
    for (i, score) in [topology::Score::Additive, topology::Score::Multiplicative]
        .into_iter()
        .enumerate()
    {
        let (p, vb) = params(70 + i as u64);
        let config = topology::Seq2SeqConfig::new(7, 6, 3, 4).with_attention(score);
        let model = topology::Seq2Seq::new(config, vb).unwrap();
        assert_gradients(&p, &[], || model.forward(&src, &tgt_in, Mode::Train));
    }
}
