//! The RNN topologies of the course: one-to-one, one-to-many, many-to-one,
//! many-to-many with equal and unequal lengths.

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use seq_core::beam::BeamConfig;
use seq_core::{Linear, LinearConfig, Mode, Module, Params, Result, Rng, Seq};
use seq_recurrent::topology::{self, last_layer_state, ManyToOne, Readout, Seq2Seq, Seq2SeqConfig};
use seq_recurrent::{Gru, Lstm, Recurrent, RecurrentConfig};

fn normal(seed: u64, dims: &[usize]) -> Tensor {
    seq_core::testing::randn(seed, dims).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    seq_core::testing::max_abs_diff(a, b).unwrap()
}

fn gru(seed: u64, i: usize, h: usize) -> (Params, Gru) {
    let p = Params::new(seed);
    let g = Gru::new(
        RecurrentConfig::new(i, h),
        p.var_builder(DType::F64, &Device::Cpu),
    )
    .unwrap();
    (p, g)
}

#[test]
fn one_to_one_is_a_single_step() -> Result<()> {
    let (_, g) = gru(1, 3, 4);
    let x = normal(2, &[5, 3]);
    let y = topology::one_to_one(&g, &x, None)?;
    let (seq, _) = g.forward_with_state(&Seq::new(x.unsqueeze(1)?)?, None, Mode::Eval)?;
    assert_eq!(y.dims(), [5, 4]);
    assert!(max_diff(&y, &seq.values().i((.., 0, ..))?) < 1e-15);
    Ok(())
}

/// Generation carries the state: it equals one run of the layer over the
/// inputs it fed itself.
#[test]
fn one_to_many_feeds_each_output_back() -> Result<()> {
    let p = Params::new(3);
    let vb = p.var_builder(DType::F64, &Device::Cpu);
    let g = Gru::new(RecurrentConfig::new(2, 5), vb.pp("rnn"))?;
    let head = Linear::new(LinearConfig::new(5, 2), vb.pp("head"))?;
    let x0 = normal(4, &[3, 2]);
    let mut fed = vec![x0.clone()];
    let ys = topology::generate(&g, &|a| head.apply(a), &x0, None, 6, |y| {
        fed.push(y.clone());
        Ok(y.clone())
    })?;
    assert_eq!(ys.len(), 6);
    fed.pop(); // the input after the last output is never read
    let all = Tensor::stack(&fed, 1)?; // [3, 6, 2]
    let out = g.forward(&Seq::new(all)?, Mode::Eval)?;
    let want = head.apply(out.values())?;
    assert!(max_diff(&Tensor::stack(&ys, 1)?, &want) < 1e-12);
    Ok(())
}

#[test]
fn many_to_one_reads_the_last_real_step_mean_or_max() -> Result<()> {
    let (_, g) = gru(5, 2, 3);
    let x = normal(6, &[3, 5, 2]);
    let out = g.forward(&Seq::new(x)?.with_lengths(&[5, 2, 4])?, Mode::Eval)?;
    let v = out.values();
    let last = topology::readout(&out, Readout::Last)?;
    for (b, len) in [(0, 5), (1, 2), (2, 4)] {
        assert!(max_diff(&last.i(b)?, &v.i((b, len - 1))?) < 1e-15);
        let real = v.i((b, 0..len))?;
        assert!(
            max_diff(
                &topology::readout(&out, Readout::Mean)?.i(b)?,
                &real.mean(0)?
            ) < 1e-12
        );
        assert!(max_diff(&topology::readout(&out, Readout::Max)?.i(b)?, &real.max(0)?) < 1e-15);
    }
    let m = ManyToOne::new(Readout::Last).forward(&out, Mode::Eval)?;
    assert_eq!(m.values().dims(), [3, 1, 3]);
    Ok(())
}

#[test]
fn the_last_layer_state_of_a_bidirectional_stack() -> Result<()> {
    let p = Params::new(7);
    let cfg = RecurrentConfig::new(2, 3)
        .with_layers(2)
        .with_bidirectional(true);
    let l = Lstm::new(cfg, p.var_builder(DType::F64, &Device::Cpu))?;
    let x = Seq::new(normal(8, &[2, 4, 2]))?.with_lengths(&[4, 3])?;
    let (out, state) = l.forward_with_state(&x, None, Mode::Eval)?;
    let s = last_layer_state(&state, l.config())?; // [2, 6]
                                                   // Forward half: the output at the last real step; backward half: at step 0.
    for (b, len) in [(0, 4), (1, 3)] {
        assert!(max_diff(&s.i((b, 0..3))?, &out.values().i((b, len - 1, 0..3))?) < 1e-15);
        assert!(max_diff(&s.i((b, 3..6))?, &out.values().i((b, 0, 3..6))?) < 1e-15);
    }
    Ok(())
}

#[test]
fn many_to_many_with_equal_lengths_tags_every_step() -> Result<()> {
    let p = Params::new(9);
    let vb = p.var_builder(DType::F64, &Device::Cpu);
    let tagger = seq_core::Sequential::new()
        .add(Gru::new(
            RecurrentConfig::new(2, 4).with_bidirectional(true),
            vb.pp("rnn"),
        )?)
        .add(Linear::new(LinearConfig::new(8, 5), vb.pp("tags"))?);
    let out = tagger.forward(
        &Seq::new(normal(1, &[3, 7, 2]))?.with_lengths(&[7, 7, 3])?,
        Mode::Eval,
    )?;
    assert_eq!(out.values().dims(), [3, 7, 5]);
    assert_eq!(out.lengths()?, vec![7, 7, 3]);
    Ok(())
}

/// Synthetic translation: reverse a sequence of tokens. Teacher forcing
/// learns it; greedy decoding then reproduces the reversal.
#[test]
fn many_to_many_with_unequal_lengths_learns_to_reverse() -> Result<()> {
    let (bos, eos) = (1u32, 2u32);
    let p = Params::new(11);
    let cfg = Seq2SeqConfig::new(8, 8, 16, 48);
    let model = Seq2Seq::new(cfg, p.var_builder(DType::F32, &Device::Cpu))?;
    let mut opt = AdamW::new(
        p.varmap().all_vars(),
        ParamsAdamW {
            lr: 0.02,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut rng = Rng::new(12);
    let mut sample = |n: usize| -> Vec<Vec<u32>> {
        (0..n)
            .map(|_| {
                (0..2 + rng.below(3))
                    .map(|_| 3 + rng.below(5) as u32)
                    .collect()
            })
            .collect()
    };
    let pad = |rows: &[Vec<u32>]| -> Result<Tensor> {
        let t = rows.iter().map(Vec::len).max().unwrap_or(1);
        let flat: Vec<u32> = rows
            .iter()
            .flat_map(|r| r.iter().copied().chain(std::iter::repeat(0)).take(t))
            .collect();
        Ok(Tensor::from_vec(flat, (rows.len(), t), &Device::Cpu)?)
    };
    for _ in 0..300 {
        let src = sample(32);
        let tgt_in: Vec<Vec<u32>> = src
            .iter()
            .map(|s| {
                std::iter::once(bos)
                    .chain(s.iter().rev().copied())
                    .collect()
            })
            .collect();
        let tgt_out: Vec<Vec<u32>> = src
            .iter()
            .map(|s| {
                s.iter()
                    .rev()
                    .copied()
                    .chain(std::iter::once(eos))
                    .collect()
            })
            .collect();
        let logits = model.forward(&pad(&src)?, &pad(&tgt_in)?, Mode::Train)?; // [32, T, 8]
                                                                               // Cross-entropy over the real target tokens (id 0 is padding).
        let loss = seq_train::loss::cross_entropy(&logits, &pad(&tgt_out)?, Some(0), 0.0)?;
        opt.backward_step(&loss)?;
    }
    let src = sample(50);
    let decoded = model.greedy(&pad(&src)?, bos, eos, 8)?;
    let right = src
        .iter()
        .zip(&decoded)
        .filter(|(s, d)| s.iter().rev().eq(d.iter()))
        .count();
    assert!(right >= 45, "reversed {right} of 50 correctly");
    let beams = model.beam(
        &pad(&src)?,
        &BeamConfig::new(bos, eos, 8, 3).with_alpha(0.6),
    )?;
    let right = src
        .iter()
        .zip(&beams)
        .filter(|(s, h)| s.iter().rev().eq(h.tokens.iter()))
        .count();
    assert!(right >= 45, "beam search reversed {right} of 50 correctly");
    Ok(())
}

/// Beam search of width 1 is greedy decoding, with attention or without.
#[test]
fn a_beam_of_one_is_greedy() -> Result<()> {
    use seq_recurrent::topology::Score;
    for attention in [None, Some(Score::Additive), Some(Score::Multiplicative)] {
        let p = Params::new(31);
        let mut cfg = Seq2SeqConfig::new(9, 9, 6, 8);
        cfg.attention = attention;
        let model = Seq2Seq::new(cfg, p.var_builder(DType::F32, &Device::Cpu))?;
        let src = Tensor::new(&[[3u32, 4, 5, 6], [7, 8, 0, 0], [5, 5, 5, 0]], &Device::Cpu)?;
        let greedy = model.greedy(&src, 1, 2, 7)?;
        let beam: Vec<Vec<u32>> = model
            .beam(&src, &BeamConfig::new(1, 2, 7, 1))?
            .into_iter()
            .map(|h| h.tokens)
            .collect();
        assert_eq!(greedy, beam, "{attention:?}");
    }
    Ok(())
}

/// With attention, each target step's weights are a distribution over the
/// real source steps (padding gets none), and more padding after a source
/// changes nothing: not the logits, not the weights on its real steps.
#[test]
fn attention_weighs_only_real_source_steps() -> Result<()> {
    use seq_recurrent::topology::Score;
    for score in [Score::Additive, Score::Multiplicative] {
        let p = Params::new(21);
        let cfg = Seq2SeqConfig::new(9, 7, 5, 6).with_attention(score);
        let model = Seq2Seq::new(cfg, p.var_builder(DType::F64, &Device::Cpu))?;
        let src = Tensor::new(&[[3u32, 4, 5, 6, 0], [7, 8, 0, 0, 0]], &Device::Cpu)?;
        let tgt_in = Tensor::new(&[[1u32, 4, 3], [1, 5, 6]], &Device::Cpu)?;
        let (logits, weights) = model.forward_with_weights(&src, &tgt_in, Mode::Eval)?;
        let w = weights.expect("attention weights").to_vec3::<f64>()?; // [2, 3, 5]
        for (b, real) in [(0, 4), (1, 2)] {
            for row in &w[b] {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(row[real..].iter().all(|&a| a == 0.0), "{row:?}");
            }
        }
        let longer = src.pad_with_zeros(1, 0, 3)?;
        let (logits2, weights2) = model.forward_with_weights(&longer, &tgt_in, Mode::Eval)?;
        let diff = (logits - logits2)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f64>()?;
        assert!(
            diff < 1e-12,
            "{score:?}: padding moved the logits by {diff}"
        );
        let w2 = weights2.expect("attention weights").narrow(2, 0, 5)?;
        let diff = (w2 - Tensor::new(w, &Device::Cpu)?)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f64>()?;
        assert!(diff < 1e-12);
    }
    Ok(())
}
