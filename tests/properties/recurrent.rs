//! Properties of the recurrent layers: padding and batch-mates never change
//! a sequence's results, a bidirectional layer mirrors on reversed input,
//! shapes hold for any sizes.

use candle_core::{DType, Device, IndexOp, Tensor};
use proptest::prelude::*;
use seq::core::{Activation, Mode, Params, Seq};
use seq::recurrent::{CellKind, Engine, Recurrent, RecurrentConfig, State};

use crate::support::{max_diff, normal};

fn kind(k: u8) -> CellKind {
    match k % 4 {
        0 => CellKind::Rnn(Activation::Tanh),
        1 => CellKind::Rnn(Activation::Relu),
        2 => CellKind::Lstm,
        _ => CellKind::Gru,
    }
}

fn layer(
    k: u8,
    i: usize,
    h: usize,
    layers: usize,
    bi: bool,
    seed: u64,
) -> (Params, Box<dyn Recurrent>) {
    let p = Params::new(seed);
    let cfg = RecurrentConfig::new(i, h)
        .with_layers(layers)
        .with_bidirectional(bi);
    let l = kind(k)
        .build(cfg, p.var_builder(DType::F64, &Device::Cpu))
        .unwrap();
    (p, l)
}

fn run(l: &dyn Recurrent, x: &Tensor, lengths: &[usize]) -> (Tensor, Tensor) {
    let xs = Seq::new(x.clone()).unwrap().with_lengths(lengths).unwrap();
    let (out, state) = l.forward_with_state(&xs, None, Mode::Eval).unwrap();
    (out.into_parts().0, state.h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Garbage in padded steps, and extra padding, change nothing real.
    #[test]
    fn padding_never_changes_real_results(
        k in 0u8..4, bi in any::<bool>(), layers in 1usize..3, seed in 0u64..1000,
        lengths in proptest::collection::vec(1usize..6, 1..4), extra in 1usize..4,
    ) {
        let (_, l) = layer(k, 2, 3, layers, bi, seed);
        let (b, t) = (lengths.len(), *lengths.iter().max().unwrap());
        let x = normal(seed + 1, &[b, t, 2]);
        let (out, h) = run(l.as_ref(), &x, &lengths);
        // Longer batch: the padded region refilled with large garbage.
        let garbage = (normal(seed + 2, &[b, t + extra, 2]) * 100.0).unwrap();
        let mut rows = Vec::new();
        for (i, &len) in lengths.iter().enumerate() {
            let real = x.i((i, 0..len)).unwrap();
            let fill = garbage.i((i, len..t + extra)).unwrap();
            rows.push(Tensor::cat(&[real, fill], 0).unwrap());
        }
        let (out2, h2) = run(l.as_ref(), &Tensor::stack(&rows, 0).unwrap(), &lengths);
        prop_assert!(max_diff(&out, &out2.narrow(1, 0, t).unwrap()) < 1e-12);
        prop_assert!(max_diff(&out2.narrow(1, t, extra).unwrap(), &out2.narrow(1, t, extra).unwrap().zeros_like().unwrap()) == 0.0);
        prop_assert!(max_diff(&h, &h2) < 1e-12);
    }

    /// A sequence's results are the same alone as in any batch.
    #[test]
    fn batch_mates_do_not_matter(
        k in 0u8..4, bi in any::<bool>(), seed in 0u64..1000,
        lengths in proptest::collection::vec(1usize..6, 2..5),
    ) {
        let (_, l) = layer(k, 2, 3, 2, bi, seed);
        let t = *lengths.iter().max().unwrap();
        let x = normal(seed + 1, &[lengths.len(), t, 2]);
        let (out, h) = run(l.as_ref(), &x, &lengths);
        for (i, &len) in lengths.iter().enumerate() {
            let (alone, h_alone) = run(l.as_ref(), &x.i((i..i + 1, 0..len)).unwrap(), &[len]);
            prop_assert!(max_diff(&out.i((i..i + 1, 0..len)).unwrap(), &alone) < 1e-12);
            prop_assert!(max_diff(&h.i((.., i..i + 1)).unwrap(), &h_alone) < 1e-12);
        }
    }

    /// With both directions sharing weights, the output on the reversed
    /// input is the reversed output with its two halves swapped.
    #[test]
    fn bidirectional_mirrors_on_reversed_input(
        k in 0u8..4, seed in 0u64..1000, b in 1usize..4, t in 1usize..7,
    ) {
        let (p, l) = layer(k, 2, 3, 1, true, seed);
        for name in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] {
            let fwd = p.get(name).unwrap();
            p.get(&format!("{name}_reverse")).unwrap().set(fwd.as_tensor()).unwrap();
        }
        let x = normal(seed + 1, &[b, t, 2]);
        let rev = |x: &Tensor| {
            let idx = Tensor::from_vec((0..t as u32).rev().collect::<Vec<_>>(), t, &Device::Cpu).unwrap();
            x.index_select(&idx, 1).unwrap()
        };
        let (out, _) = run(l.as_ref(), &x, &vec![t; b]);
        let (out_rev, _) = run(l.as_ref(), &rev(&x), &vec![t; b]);
        let swapped = Tensor::cat(&[out.narrow(2, 3, 3).unwrap(), out.narrow(2, 0, 3).unwrap()], 2).unwrap();
        prop_assert!(max_diff(&out_rev, &rev(&swapped)) < 1e-12);
    }

    /// Output `[batch, time, directions * H]`, state `[layers * directions, batch, H]`.
    #[test]
    fn shapes_hold_for_any_sizes(
        k in 0u8..4, bi in any::<bool>(), layers in 1usize..4,
        b in 1usize..5, t in 1usize..6, i in 1usize..5, h in 1usize..6,
    ) {
        let (_, l) = layer(k, i, h, layers, bi, 0);
        let d = if bi { 2 } else { 1 };
        let x = Tensor::zeros((b, t, i), DType::F64, &Device::Cpu).unwrap();
        let (out, state) = l.forward_with_state(&Seq::new(x).unwrap(), None, Mode::Eval).unwrap();
        prop_assert_eq!(out.values().dims(), &[b, t, d * h]);
        prop_assert_eq!(state.h.dims(), &[layers * d, b, h]);
        prop_assert_eq!(state.c.is_some(), k % 4 == 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The fused op and the composed reference agree on outputs, final
    /// states and every gradient, with masks and an initial state, in f64
    /// to 1e-12 and in f32 (where the fused gates use their own `exp`) to
    /// 1e-5, relative to the largest value; batches of 8 and more run the fused op on blocks of rows in
    /// parallel. The fused op runs in training mode (keeping its gates for
    /// the backward pass) and in evaluation mode (not keeping them, so the
    /// backward pass recomputes them); without dropout both are the same
    /// function.
    #[test]
    fn fused_and_composed_engines_agree(
        k in 0u8..4, bi in any::<bool>(), layers in 1usize..3, seed in 0u64..1000,
        lengths in proptest::collection::vec(1usize..6, 1..12),
        h in 1usize..20, single in any::<bool>(),
    ) {
        let (b, t) = (lengths.len(), *lengths.iter().max().unwrap());
        let d = if bi { 2 } else { 1 };
        let (dtype, tol) = if single { (DType::F32, 1e-5) } else { (DType::F64, 1e-12) };
        let x = normal(seed + 1, &[b, t, 2]).to_dtype(dtype).unwrap();
        let x = candle_core::Var::from_tensor(&x).unwrap();
        let h0 = normal(seed + 2, &[layers * d, b, h]).to_dtype(dtype).unwrap();
        let c0 = normal(seed + 3, &[layers * d, b, h]).to_dtype(dtype).unwrap();
        let mut results = Vec::new();
        for (engine, mode) in [(Engine::Fused, Mode::Train), (Engine::Fused, Mode::Eval), (Engine::Composed, Mode::Train)] {
            let p = Params::new(seed);
            let cfg = RecurrentConfig::new(2, h).with_layers(layers).with_bidirectional(bi).with_engine(engine);
            let l = kind(k).build(cfg, p.var_builder(dtype, &Device::Cpu)).unwrap();
            let initial = State { h: h0.clone(), c: (k % 4 == 2).then(|| c0.clone()) };
            let xs = Seq::new(x.as_tensor().clone()).unwrap().with_lengths(&lengths).unwrap();
            let (out, state) = l.forward_with_state(&xs, Some(&initial), mode).unwrap();
            let mut loss = (out.values().sqr().unwrap().sum_all().unwrap() + state.h.sum_all().unwrap()).unwrap();
            if let Some(c) = &state.c {
                loss = (loss + (c * 0.5).unwrap().sum_all().unwrap()).unwrap();
            }
            let grads = loss.backward().unwrap();
            let mut tensors = vec![out.into_parts().0, state.h, grads.get(x.as_tensor()).unwrap().clone()];
            tensors.extend(state.c);
            for (_, v) in p.named_vars() {
                tensors.push(grads.get(v.as_tensor()).unwrap().clone());
            }
            results.push(tensors);
        }
        let composed = results.pop().unwrap();
        for (a, c) in results.iter().flat_map(|fused| fused.iter().zip(&composed)) {
            let (a, c) = (a.to_dtype(DType::F64).unwrap(), c.to_dtype(DType::F64).unwrap());
            // Relative to the largest value: f32 rounding grows with it (a
            // gradient summed over a batch reaches ~10).
            let scale = c.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap().max(1.0);
            prop_assert!(max_diff(&a, &c) < tol * scale, "{} vs {tol} (scale {scale})", max_diff(&a, &c));
        }
    }
}
