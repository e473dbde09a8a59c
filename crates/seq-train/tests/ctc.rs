//! The CTC loss against PyTorch's `F.ctc_loss` on `log_softmax(logits)`:
//! per-sequence losses, the mean and sum reductions and their gradients for
//! the logits, in f64 (1e-10) and f32 (1e-5). Fixtures: `tests/fixtures/train.py`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use seq_core::testing::{load_fixture, max_abs_diff, parity_tolerance};
use seq_train::ctc::{self, CtcLoss, Reduction};

fn fixture(dtype: DType) -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/train/ctc.safetensors"
    );
    load_fixture(path.as_ref(), dtype).expect("the CTC fixture")
}

/// The case's input lengths and (unpadded) labels.
fn labels(f: &HashMap<String, Tensor>, case: &str) -> (Vec<usize>, Vec<Vec<u32>>) {
    let ints = |k: &str| f[&format!("{case}.{k}")].to_dtype(DType::I64).unwrap();
    let inputs = ints("input_lengths").to_vec1::<i64>().unwrap();
    let lengths = ints("target_lengths").to_vec1::<i64>().unwrap();
    let padded = ints("targets").to_vec2::<i64>().unwrap();
    let labels = padded
        .iter()
        .zip(&lengths)
        .map(|(row, &n)| row[..n as usize].iter().map(|&l| l as u32).collect())
        .collect();
    (inputs.iter().map(|&l| l as usize).collect(), labels)
}

/// `(case, blank, zero_infinity)`, as the fixture script wrote them.
const CASES: [(&str, u32, bool); 4] = [
    ("mixed", 0, false),
    ("blank_last", 4, false),
    ("infeasible", 0, true),
    ("long", 0, false),
];

#[test]
fn losses_and_gradients_match_pytorch() {
    for dtype in [DType::F64, DType::F32] {
        let f = fixture(dtype);
        let tol = parity_tolerance(dtype);
        for (case, blank, zero_infinity) in CASES {
            let (inputs, targets) = labels(&f, case);
            let logits = Var::from_tensor(&f[&format!("{case}.logits")]).unwrap();
            let loss = |reduction| {
                let lp = candle_nn::ops::log_softmax(logits.as_tensor(), D::Minus1).unwrap();
                CtcLoss::new()
                    .with_blank(blank)
                    .with_zero_infinity(zero_infinity)
                    .with_reduction(reduction)
                    .loss(&lp, &inputs, &targets)
                    .unwrap()
            };
            let none = loss(Reduction::None);
            let d = max_abs_diff(&none, &f[&format!("{case}.none")]).unwrap();
            // Losses reach several hundred nats: compare them relatively.
            assert!(d < tol * 1e3, "{case} {dtype:?}: losses differ by {d}");
            for (reduction, name) in [(Reduction::Mean, "mean"), (Reduction::Sum, "sum")] {
                let value = loss(reduction);
                let expected = &f[&format!("{case}.{name}.loss")].reshape(()).unwrap();
                let scale = expected
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
                    .abs()
                    .max(1.0);
                let d = max_abs_diff(&value, expected).unwrap() / scale;
                assert!(
                    d < tol,
                    "{case} {name} {dtype:?}: loss differs by {d} (relative)"
                );
                let grad = value.backward().unwrap();
                let grad = grad.get(&logits).expect("a gradient for the logits");
                let d = max_abs_diff(grad, &f[&format!("{case}.{name}.grad")]).unwrap();
                assert!(d < tol, "{case} {name} {dtype:?}: gradient differs by {d}");
            }
        }
    }
}

#[test]
fn an_infeasible_label_is_infinite_without_zero_infinity() {
    let lp = candle_nn::ops::log_softmax(
        &Tensor::zeros((1, 3, 3), DType::F64, &Device::Cpu).unwrap(),
        D::Minus1,
    )
    .unwrap();
    // Two equal labels need a blank between them: 3 steps, and only 2 given.
    let loss = CtcLoss::new().with_reduction(Reduction::Sum);
    let l = loss.loss(&lp, &[2], &[vec![1u32, 1]]).unwrap();
    assert_eq!(l.to_scalar::<f64>().unwrap(), f64::INFINITY);
    let l = loss.loss(&lp, &[3], &[vec![1u32, 1]]).unwrap();
    assert!(l.to_scalar::<f64>().unwrap().is_finite());
    let zero = loss
        .with_zero_infinity(true)
        .loss(&lp, &[2], &[vec![1u32, 1]])
        .unwrap();
    assert_eq!(zero.to_scalar::<f64>().unwrap(), 0.0);
}

#[test]
fn bad_inputs_are_errors_naming_the_fault() {
    let lp = Tensor::zeros((2, 4, 3), DType::F64, &Device::Cpu).unwrap();
    let loss = CtcLoss::new();
    let err = |r: seq_core::Result<Tensor>| r.unwrap_err().to_string();
    assert!(err(loss.loss(&lp, &[4], &[vec![1u32]])).contains("1 input lengths"));
    assert!(err(loss.loss(&lp, &[4, 5], &[vec![1u32], vec![2]])).contains("input length 5"));
    assert!(err(loss.loss(&lp, &[4, 4], &[vec![1u32], vec![0]])).contains("label 0"));
    assert!(err(loss.loss(&lp, &[4, 4], &[vec![1u32], vec![3]])).contains("label 3"));
    assert!(err(loss
        .with_blank(3)
        .loss(&lp, &[4, 4], &[vec![1u32], vec![2]]))
    .contains("blank 3"));
    let flat = Tensor::zeros((4, 3), DType::F64, &Device::Cpu).unwrap();
    assert!(err(loss.loss(&flat, &[4], &[vec![1u32]])).contains("[batch, time, classes]"));
    assert!(ctc::beam(&lp, &[4, 4], 0, 0).is_err());
    assert!(ctc::greedy(&lp, &[4, 9], 0).is_err());
}
