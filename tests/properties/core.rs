//! Properties of seq-core's building blocks.

use candle_core::{DType, Device, IndexOp, Tensor, D};
use proptest::prelude::*;
use seq::core::{
    softmax, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig, Mode,
    Module, Params, Seq,
};

use crate::support::{max_diff, normal};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A per-step layer commutes with any reordering of the time steps.
    #[test]
    fn linear_acts_on_each_step_alone(
        b in 1usize..4, t in 1usize..7, i in 1usize..6, o in 1usize..6, seed in 0u64..1000,
        shift in 0usize..7,
    ) {
        let p = Params::new(seed);
        let fc = Linear::new(LinearConfig::new(i, o), p.var_builder(DType::F64, &Device::Cpu)).unwrap();
        let x = normal(seed, &[b, t, i]);
        let rolled = x.roll(shift as i32, 1).unwrap();
        let y = fc.forward(&Seq::new(x).unwrap(), Mode::Eval).unwrap().into_parts().0;
        let y_rolled = fc.forward(&Seq::new(rolled).unwrap(), Mode::Eval).unwrap().into_parts().0;
        prop_assert!(max_diff(&y.roll(shift as i32, 1).unwrap(), &y_rolled) < 1e-12);
        prop_assert_eq!(y.dims(), &[b, t, o]);
    }

    /// Layer norm leaves every step with mean 0 and (biased) variance 1.
    #[test]
    fn layer_norm_standardises_each_step(
        b in 1usize..4, t in 1usize..5, w in 2usize..9, seed in 0u64..1000, scale in 0.1f64..100.0,
    ) {
        let p = Params::new(seed);
        let ln = LayerNorm::new(LayerNormConfig::new(w).with_eps(0.0), p.var_builder(DType::F64, &Device::Cpu)).unwrap();
        let x = (normal(seed, &[b, t, w]) * scale).unwrap();
        let y = ln.apply(&x).unwrap();
        let mean = y.mean_keepdim(D::Minus1).unwrap();
        let var = y.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        prop_assert!(mean.abs().unwrap().max_keepdim(1).unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap() < 1e-9);
        prop_assert!(max_diff(&var, &var.ones_like().unwrap()) < 1e-9);
    }

    /// Softmax rows are distributions and ignore a shift of all logits.
    #[test]
    fn softmax_is_a_distribution_and_shift_invariant(
        rows in 1usize..5, cols in 1usize..9, seed in 0u64..1000, shift in -50.0f64..50.0,
    ) {
        let x = (normal(seed, &[rows, cols]) * 10.0).unwrap();
        let y = softmax(&x).unwrap();
        let sums = y.sum_keepdim(1).unwrap();
        prop_assert!(max_diff(&sums, &sums.ones_like().unwrap()) < 1e-12);
        prop_assert!(max_diff(&y, &softmax(&(x + shift).unwrap()).unwrap()) < 1e-12);
    }

    /// The padding id makes exactly the mask `ids != pad` and zero vectors.
    #[test]
    fn embedding_padding_makes_the_mask(
        ids in proptest::collection::vec(0u32..5, 1..12), seed in 0u64..1000,
    ) {
        let p = Params::new(seed);
        let emb = Embedding::new(EmbeddingConfig::new(5, 3).with_padding_idx(0), p.var_builder(DType::F64, &Device::Cpu)).unwrap();
        let t = ids.len();
        let x = Tensor::from_vec(ids.clone(), (1, t), &Device::Cpu).unwrap();
        let out = emb.forward(&Seq::from_ids(x).unwrap(), Mode::Eval).unwrap();
        let mask: Vec<f64> = out.mask().unwrap().i(0).unwrap().to_vec1().unwrap();
        let norms: Vec<f64> = out.values().i(0).unwrap().abs().unwrap().sum(1).unwrap().to_vec1().unwrap();
        for (k, &id) in ids.iter().enumerate() {
            prop_assert_eq!(mask[k], if id == 0 { 0.0 } else { 1.0 });
            prop_assert_eq!(norms[k] == 0.0, id == 0);
        }
    }

    /// A mask built from lengths gives the lengths back.
    #[test]
    fn lengths_survive_the_mask(lengths in proptest::collection::vec(0usize..9, 1..6)) {
        let t = lengths.iter().copied().max().unwrap_or(0).max(1);
        let x = Tensor::zeros((lengths.len(), t, 2), DType::F32, &Device::Cpu).unwrap();
        let s = Seq::new(x).unwrap().with_lengths(&lengths).unwrap();
        prop_assert_eq!(s.lengths().unwrap(), lengths);
    }
}

/// Outputs and the gradients of the input and of every parameter, after
/// `f` under each engine, as f64.
fn under_engines(
    seed: u64,
    x: &Tensor,
    f: impl Fn(&Params, seq::core::Engine, &Tensor) -> Tensor,
) -> Vec<Vec<Tensor>> {
    [seq::core::Engine::Fused, seq::core::Engine::Composed]
        .into_iter()
        .map(|engine| {
            let p = Params::new(seed);
            let x = candle_core::Var::from_tensor(x).unwrap();
            let y = f(&p, engine, x.as_tensor());
            let r = normal(seed + 7, y.dims()).to_dtype(y.dtype()).unwrap();
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let mut out = vec![y, grads.get(x.as_tensor()).unwrap().clone()];
            for (_, v) in p.named_vars() {
                out.push(grads.get(v.as_tensor()).unwrap().clone());
            }
            out.into_iter()
                .map(|t| t.to_dtype(DType::F64).unwrap())
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The fused layer norm equals the composed one: values, input, weight
    /// and bias gradients (f64 to 1e-12, f32 to 1e-5), over row counts that
    /// span several blocks. In f32 rows are 8 wide or more: a narrow row of
    /// nearly equal values has a tiny variance, and `1 / sqrt(var + eps)`
    /// (up to 316) magnifies each path's rounding of `x - mean` past 1e-5.
    #[test]
    fn fused_and_composed_layer_norm_agree(
        rows in 1usize..200, n in 1usize..40, seed in 0u64..1000, single in any::<bool>(),
    ) {
        let (dtype, tol) = if single { (DType::F32, 1e-5) } else { (DType::F64, 1e-12) };
        let n = if single { n.max(8) } else { n };
        let x = (normal(seed, &[rows, n]) * 3.0).unwrap().to_dtype(dtype).unwrap();
        let r = under_engines(seed, &x, |p, engine, x| {
            let vb = p.var_builder(dtype, &Device::Cpu);
            // Weights away from their ones/zeros defaults, so that they matter.
            let ln = LayerNorm::new(LayerNormConfig::new(n).with_engine(engine), vb).unwrap();
            for (_, v) in p.named_vars() {
                let w = (normal(seed + 3, v.dims()) + 1.0).unwrap().to_dtype(dtype).unwrap();
                v.set(&w).unwrap();
            }
            ln.apply(x).unwrap()
        });
        for (a, c) in r[0].iter().zip(&r[1]) {
            let scale = c.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap().max(1.0);
            prop_assert!(max_diff(a, c) < tol * scale, "{} vs {tol} (scale {scale})", max_diff(a, c));
        }
    }

    /// `g(x W^T + b)` as one op (rows spanning several jobs of the op, 3-D
    /// inputs) equals candle's matmul, bias and activation written out
    /// here: values for the identity, relu and both GELUs, in f64 to 1e-12
    /// and f32 to 1e-5; the input, weight and bias gradients for the
    /// identity and relu (candle's GELU gradients are inexact, off by up to
    /// 1.7e-7 for `gelu_erf`; seq's are checked against finite differences
    /// in `seq-core`'s unit tests and the gradient suite).
    #[test]
    fn fused_linear_equals_matmul_bias_activation(
        batch in 1usize..4, t in 1usize..700, i in 1usize..40, o in 1usize..40,
        k in 0usize..4, seed in 0u64..1000, single in any::<bool>(),
    ) {
        use seq::core::Activation;
        let (dtype, tol) = if single { (DType::F32, 1e-5) } else { (DType::F64, 1e-12) };
        let g = [Activation::Identity, Activation::Relu, Activation::Gelu, Activation::GeluTanh][k];
        let x = normal(seed, &[batch, t, i]).to_dtype(dtype).unwrap();
        let r = under_engines(seed, &x, |p, engine, x| {
            let lin = Linear::new(LinearConfig::new(i, o), p.var_builder(dtype, &Device::Cpu)).unwrap();
            match engine {
                seq::core::Engine::Fused => lin.apply_activation(x, g).unwrap(),
                seq::core::Engine::Composed => {
                    let w = lin.weight().t().unwrap().broadcast_left(batch).unwrap();
                    let y = x.matmul(&w).unwrap().broadcast_add(lin.bias().unwrap()).unwrap();
                    match g {
                        Activation::Identity => y,
                        Activation::Relu => y.relu().unwrap(),
                        Activation::Gelu => y.gelu_erf().unwrap(),
                        _ => y.gelu().unwrap(),
                    }
                }
            }
        });
        let n = if matches!(g, Activation::Identity | Activation::Relu) { r[0].len() } else { 1 };
        for (a, c) in r[0].iter().zip(&r[1]).take(n) {
            let scale = c.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap().max(1.0);
            prop_assert!(max_diff(a, c) < tol * scale, "{} vs {tol} (scale {scale})", max_diff(a, c));
        }
    }
}
