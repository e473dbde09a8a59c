//! Arguments that would train on garbage are refused with what is wrong:
//! class ids outside the logits, impossible optimiser settings.

use candle_core::{Device, Tensor};
use seq_train::{loss, OptimizerConfig};

#[test]
fn cross_entropy_refuses_targets_outside_the_classes() {
    let logits = Tensor::zeros((2, 3), candle_core::DType::F64, &Device::Cpu).unwrap();
    let targets = |ids: &[u32]| Tensor::new(ids, &Device::Cpu).unwrap();
    let err = loss::cross_entropy(&logits, &targets(&[0, 3]), None, 0.0).unwrap_err();
    assert!(
        err.to_string().contains("cross_entropy") && err.to_string().contains("target 3"),
        "{err}"
    );
    // The ignored id may lie outside; the others may not.
    assert!(loss::cross_entropy(&logits, &targets(&[2, 99]), Some(99), 0.0).is_ok());
    assert!(loss::cross_entropy(&logits, &targets(&[7, 99]), Some(99), 0.0).is_err());
    let negative = Tensor::new(&[0i64, -1], &Device::Cpu).unwrap();
    assert!(loss::cross_entropy(&logits, &negative, None, 0.0).is_err());
}

#[test]
fn impossible_optimiser_settings_are_refused() {
    let bad = [
        (OptimizerConfig::sgd(-0.1), "learning rate"),
        (OptimizerConfig::adam(f64::NAN), "learning rate"),
        (
            OptimizerConfig::Adam {
                lr: 1e-3,
                betas: (1.0, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
            },
            "beta1",
        ),
        (
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.0,
                nesterov: true,
                weight_decay: 0.0,
            },
            "Nesterov",
        ),
        (
            OptimizerConfig::RmsProp {
                lr: 0.1,
                alpha: 0.99,
                eps: 1e-8,
                momentum: 0.0,
                weight_decay: -1.0,
            },
            "weight_decay",
        ),
    ];
    for (config, what) in bad {
        let err = config.build(Vec::new()).unwrap_err().to_string();
        assert!(err.contains(what), "{config:?}: {err}");
    }
    assert!(
        OptimizerConfig::adamw(0.0).build(Vec::new()).is_ok(),
        "a zero rate is allowed"
    );
}
