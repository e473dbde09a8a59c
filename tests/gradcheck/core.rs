//! Gradient checks of seq-core's building blocks.

use candle_core::{Device, Tensor};
use seq::core::{
    Activation, Dropout, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, Mode, Module, Seq,
};

use crate::support::{assert_gradients, input, params};

#[test]
fn linear_per_time_step() {
    let (p, vb) = params(1);
    let fc = Linear::new(LinearConfig::new(4, 3), vb).unwrap();
    let x = input(2, &[2, 5, 4]);
    assert_gradients(&p, &[("x", &x)], || {
        let s = Seq::new(x.as_tensor().clone())?;
        Ok(fc.forward(&s, Mode::Train)?.into_parts().0)
    });
}

#[test]
fn linear_without_bias() {
    let (p, vb) = params(3);
    let fc = Linear::new(LinearConfig::new(3, 2).with_bias(false), vb).unwrap();
    let x = input(4, &[3, 3]);
    assert_gradients(&p, &[("x", &x)], || fc.apply(x.as_tensor()));
}

#[test]
fn embedding_with_a_padding_id() {
    let (p, vb) = params(5);
    let emb = Embedding::new(EmbeddingConfig::new(6, 3).with_padding_idx(0), vb).unwrap();
    // Ids repeat (gradients accumulate) and include padding (no gradient).
    let ids = Tensor::new(&[[1u32, 4, 4, 0], [5, 2, 0, 0]], &Device::Cpu).unwrap();
    assert_gradients(&p, &[], || {
        let out = emb.forward(&Seq::from_ids(ids.clone())?, Mode::Train)?;
        Ok(out.into_parts().0)
    });
}

#[test]
fn layer_norm() {
    let (p, vb) = params(6);
    let ln = LayerNorm::new(LayerNormConfig::new(5), vb).unwrap();
    // Move weight and bias away from 1 and 0 so their gradients are general.
    for (name, v) in p.named_vars() {
        let noise = input(7, v.dims());
        v.set(&(v.as_tensor() + noise.as_tensor() * 0.5).unwrap())
            .unwrap();
        assert!(name == "weight" || name == "bias");
    }
    let x = input(8, &[2, 3, 5]);
    assert_gradients(&p, &[("x", &x)], || ln.apply(x.as_tensor()));
}

#[test]
fn every_activation() {
    // Inputs kept away from relu's kink at 0, where the derivative jumps.
    let x = input(9, &[2, 3, 4]);
    let x = x.as_tensor().clone();
    let shifted = (&x + x.sign().unwrap() * 0.1).unwrap();
    let x = candle_core::Var::from_tensor(&shifted).unwrap();
    for a in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Identity,
        Activation::Softmax,
    ] {
        let (p, _) = params(0);
        assert_gradients(&p, &[(&format!("{a} input"), &x)], || {
            a.apply(x.as_tensor())
        });
    }
}

#[test]
fn dropout_in_eval_mode_is_the_identity_with_its_gradient() {
    let (p, _) = params(0);
    let d = Dropout::new(0.5, 1).unwrap();
    let x = input(10, &[2, 3, 4]);
    assert_gradients(&p, &[("x", &x)], || d.apply(x.as_tensor(), Mode::Eval));
}

#[test]
fn dropout_in_train_mode_passes_the_kept_units_scaled() {
    // The mask is random, so compare with the closed form: the gradient of
    // sum(y) is the mask itself, 0 or 1/(1-p).
    let d = Dropout::new(0.5, 1).unwrap();
    let x = input(11, &[4, 8]);
    let y = d.apply(x.as_tensor(), Mode::Train).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    let g: Vec<f64> = grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let ratio = (y / x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for (g, r) in g.iter().zip(&ratio) {
        assert!((g - r).abs() < 1e-12 && (*g == 0.0 || (*g - 2.0).abs() < 1e-12));
    }
}
