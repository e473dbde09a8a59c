//! Optimisers and clipping against PyTorch on a fixed problem (a linear
//! layer, mean squared error, f64): the weights after each of the first
//! three steps of every optimiser, and `clip_grad_norm_`'s norm and clipped
//! gradients. Fixtures: `tests/fixtures/train.py`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use seq_core::{Linear, LinearConfig, Params};
use seq_train::{clip, loss, Optimizer, OptimizerConfig};

fn fixture() -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/train/optim.safetensors"
    );
    candle_core::safetensors::load(path, &Device::Cpu).expect("the optimiser fixture")
}

/// The layer, its parameters at the fixture's start, and the loss function.
fn problem(f: &HashMap<String, Tensor>) -> (Params, impl Fn() -> Tensor) {
    let p = Params::new(0);
    let layer = Linear::new(
        LinearConfig::new(4, 3),
        p.var_builder(DType::F64, &Device::Cpu),
    )
    .unwrap();
    p.get("weight").unwrap().set(&f["weight0"]).unwrap();
    p.get("bias").unwrap().set(&f["bias0"]).unwrap();
    let (x, y) = (f["x"].clone(), f["y"].clone());
    (p, move || loss::mse(&layer.apply(&x).unwrap(), &y).unwrap())
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn first_steps_of_every_optimizer_match_pytorch() {
    let f = fixture();
    let configs = [
        ("sgd", OptimizerConfig::sgd(0.1)),
        (
            "sgd_nesterov",
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                weight_decay: 0.01,
            },
        ),
        (
            "sgd_momentum",
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.5,
                nesterov: false,
                weight_decay: 0.0,
            },
        ),
        (
            "adam",
            OptimizerConfig::Adam {
                lr: 0.01,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.01,
            },
        ),
        (
            "adamw",
            OptimizerConfig::AdamW {
                lr: 0.01,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.1,
            },
        ),
        ("rmsprop", OptimizerConfig::rmsprop(0.01)),
        (
            "rmsprop_momentum",
            OptimizerConfig::RmsProp {
                lr: 0.01,
                alpha: 0.99,
                eps: 1e-8,
                momentum: 0.9,
                weight_decay: 0.01,
            },
        ),
    ];
    for (name, config) in configs {
        let (p, loss) = problem(&f);
        let mut opt = config.build(p.named_vars()).unwrap();
        for k in 1..=3 {
            opt.step(&loss().backward().unwrap()).unwrap();
            for part in ["weight", "bias"] {
                let e = max_diff(
                    p.get(part).unwrap().as_tensor(),
                    &f[&format!("{name}.{k}.{part}")],
                );
                assert!(
                    e < 1e-12,
                    "{name} step {k} {part}: differs from PyTorch by {e:.2e}"
                );
            }
        }
    }
}

#[test]
fn optimizer_state_round_trips() {
    let f = fixture();
    let (p, loss) = problem(&f);
    let mut a = OptimizerConfig::adam(0.01).build(p.named_vars()).unwrap();
    a.step(&loss().backward().unwrap()).unwrap();
    let state: HashMap<String, Tensor> = a.state().unwrap().into_iter().collect();
    assert!(state.contains_key("weight.exp_avg") && state.contains_key("step"));
    let mut b = OptimizerConfig::adam(0.01).build(p.named_vars()).unwrap();
    b.load_state(&state).unwrap();
    // Two optimisers with one state take the same next step.
    let snapshot = || -> Vec<Tensor> {
        p.named_vars()
            .iter()
            .map(|(_, v)| v.as_tensor().copy().unwrap())
            .collect()
    };
    let before = snapshot();
    b.step(&loss().backward().unwrap()).unwrap();
    let via_b = snapshot();
    for ((_, v), t) in p.named_vars().iter().zip(&before) {
        v.set(t).unwrap();
    }
    a.step(&loss().backward().unwrap()).unwrap();
    for (x, y) in via_b.iter().zip(snapshot()) {
        assert_eq!(max_diff(x, &y), 0.0);
    }
}

#[test]
fn clipping_by_norm_matches_clip_grad_norm() {
    let f = fixture();
    let (p, loss) = problem(&f);
    let vars = p.named_vars();
    let mut grads = loss().backward().unwrap();
    let norm = clip::clip_grad_norm(&mut grads, &vars, 0.5).unwrap();
    let want = f["clip.total_norm"].to_vec1::<f64>().unwrap()[0];
    assert!((norm - want).abs() < 1e-12, "norm {norm} vs {want}");
    for (name, v) in &vars {
        let e = max_diff(
            grads.get(v.as_tensor()).unwrap(),
            &f[&format!("clip.{name}")],
        );
        assert!(e < 1e-12, "clipped {name} differs by {e:.2e}");
    }
}

/// Weighted losses and their gradients against PyTorch, f64 to 1e-10.
#[test]
fn weighted_losses_match_pytorch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/train/losses.safetensors"
    );
    let f = candle_core::safetensors::load(path, &Device::Cpu).expect("the losses fixture");
    let check = |case: &str, logits: &Tensor, loss: &dyn Fn(&Tensor) -> Tensor| {
        let z = candle_core::Var::from_tensor(logits).unwrap();
        let l = loss(z.as_tensor());
        let grad = l.backward().unwrap().get(z.as_tensor()).unwrap().clone();
        let expected = f[&format!("{case}.loss")].to_vec1::<f64>().unwrap()[0];
        let got = l.to_scalar::<f64>().unwrap();
        assert!(
            (got - expected).abs() < 1e-10,
            "{case}: loss {got} vs {expected}"
        );
        let e = max_diff(&grad, &f[&format!("{case}.grad")]);
        assert!(e < 1e-10, "{case}: gradient differs by {e:e}");
    };
    let (logits, targets) = (&f["logits"], &f["targets"]);
    let w = f["class_weight"].clone();
    let ce = loss::CrossEntropy::new().with_class_weight(w);
    check("ce_w", logits, &|z| ce.loss(z, targets).unwrap());
    let ce = ce.with_ignore_index(1).with_label_smoothing(0.2);
    check("ce_w_ls", logits, &|z| ce.loss(z, targets).unwrap());
    let s = &f["sample_weight"];
    check("ce_w_s", logits, &|z| {
        ce.loss_weighted(z, targets, s).unwrap()
    });
    let (pw, ew) = (&f["bce.pos_weight"], &f["bce.weight"]);
    check("bce_pw", &f["bce.logits"], &|z| {
        loss::bce_with_logits_weighted(z, &f["bce.targets"], Some(pw), Some(ew)).unwrap()
    });
}
