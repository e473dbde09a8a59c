//! Interop: seq layers in a plain candle program, candle layers inside
//! seq's `Sequential`, `Params` over a candle `VarMap`, a candle-nn
//! optimiser driving the trainer, and a checkpoint saved by PyTorch with
//! more than parameters in it (bool and int64 buffers) loaded strictly and
//! not (`tests/fixtures/checkpoint.py`).

use std::path::PathBuf;

use candle_core::{DType, Device, Module as _, Tensor, D};
use candle_nn::{ModuleT as _, VarBuilder, VarMap};
use seq::core::testing::{max_abs_diff, param_values};
use seq::core::{
    Dropout, FromCandle, Linear, LinearConfig, LoadOptions, Mode, Module, Params, Seq, Sequential,
    WithMode,
};
use seq::recurrent::{Lstm, RecurrentConfig};

fn input(shape: (usize, usize, usize)) -> Tensor {
    let n = shape.0 * shape.1 * shape.2;
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

#[test]
fn a_seq_lstm_runs_in_a_plain_candle_program() {
    // A candle program: candle-nn's VarMap and layers, `Tensor::apply`.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let lstm = Lstm::new(RecurrentConfig::new(3, 5), vb.pp("lstm")).unwrap();
    let head = candle_nn::linear(5, 2, vb.pp("head")).unwrap();
    let x = input((2, 4, 3));
    let y = x.apply(&lstm).unwrap().apply(&head).unwrap();
    assert_eq!(y.dims(), &[2, 4, 2]);
    // The same as seq's own forward, in evaluation mode.
    let seq_y = Module::forward(&lstm, &Seq::new(x).unwrap(), Mode::Eval).unwrap();
    let expected = head.forward(seq_y.values()).unwrap();
    assert_eq!(max_abs_diff(&y, &expected).unwrap(), 0.0);
    // The LSTM's weights live in the candle program's VarMap.
    assert!(varmap
        .data()
        .lock()
        .unwrap()
        .contains_key("lstm.weight_ih_l0"));
}

#[test]
fn a_candle_nn_linear_runs_inside_sequential() {
    let params = Params::new(3);
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let candle_linear = candle_nn::linear(3, 4, vb.pp("0")).unwrap();
    let stack = Sequential::new()
        .add(FromCandle::new(candle_linear.clone()))
        .add(Linear::new(LinearConfig::new(4, 2), vb.pp("1")).unwrap());
    assert!(stack
        .to_string()
        .contains("FromCandle(candle_nn::linear::Linear)"));
    let x = input((2, 5, 3));
    let xs = Seq::new(x.clone()).unwrap().with_lengths(&[5, 2]).unwrap();
    let y = Module::forward(&stack, &xs, Mode::Eval).unwrap();
    // x W0^T + b0, then x W1^T + b1, written out.
    let affine = |x: &Tensor, name: &str| {
        let w = params.get(&format!("{name}.weight")).unwrap();
        let b = params.get(&format!("{name}.bias")).unwrap();
        x.broadcast_matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap()
    };
    let expected = affine(&affine(&x, "0"), "1");
    assert!(max_abs_diff(y.values(), &expected).unwrap() < 1e-6);
    // The mask passed through the candle layer.
    assert_eq!(y.lengths().unwrap(), [5, 2]);
    // Both layers' weights are seq parameters (trained and saved with the rest).
    assert_eq!(params.names(), ["0.bias", "0.weight", "1.bias", "1.weight"]);
}

#[test]
fn a_candle_layer_that_changes_the_time_axis_is_an_error() {
    let sum_over_time = candle_nn::func(|x: &Tensor| x.sum_keepdim(1)?.squeeze(1));
    let err = FromCandle::new(sum_over_time)
        .forward(&Seq::new(input((2, 5, 3))).unwrap(), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().contains("[2, 5, features]"), "{err}");
}

#[test]
fn with_mode_passes_candle_s_train_flag_on() {
    let dropout = WithMode(Dropout::new(0.5, 7).unwrap());
    let x = Tensor::ones((4, 8, 16), DType::F32, &Device::Cpu).unwrap();
    let eval = dropout.forward_t(&x, false).unwrap();
    assert_eq!(max_abs_diff(&eval, &x).unwrap(), 0.0);
    let train = dropout.forward_t(&x, true).unwrap();
    let zeros = train.eq(0.0).unwrap().to_dtype(DType::F32).unwrap();
    let dropped = zeros.mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!((0.3..0.7).contains(&dropped), "dropped {dropped}");
    // What is kept is scaled by 1 / (1 - p).
    let kept = train.max(D::Minus1).unwrap().max_all().unwrap();
    assert_eq!(kept.to_scalar::<f32>().unwrap(), 2.0);
}

#[test]
fn params_share_an_existing_varmap() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let _ = candle_nn::linear(3, 2, vb.pp("fc")).unwrap();
    let params = Params::from_varmap(varmap.clone(), 0);
    assert_eq!(params.names(), ["fc.bias", "fc.weight"]);
    // New seq layers land in the same map.
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let _ = Linear::new(LinearConfig::new(2, 2), vb.pp("out")).unwrap();
    assert_eq!(varmap.all_vars().len(), 4);
}

const CHECKPOINT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/checkpoint/tagger.safetensors"
);

/// One tensor of the checkpoint (candle cannot load its bool tensor, so the
/// file is not loaded whole).
fn checkpoint_tensor(name: &str) -> Tensor {
    let bytes = std::fs::read(CHECKPOINT).unwrap();
    let file = candle_core::safetensors::SliceSafetensors::new(&bytes).unwrap();
    file.load(name, &Device::Cpu).unwrap()
}

/// The tagger of the fixture (an LSTM and a linear head), f64; `extra`
/// adds a layer the checkpoint does not have.
fn tagger(extra: bool) -> (Params, impl Fn(&Tensor) -> Tensor) {
    let params = Params::new(9);
    let vb = params.var_builder(DType::F64, &Device::Cpu);
    let lstm = Lstm::new(RecurrentConfig::new(3, 4), vb.pp("lstm")).unwrap();
    let head = Linear::new(LinearConfig::new(4, 2), vb.pp("head")).unwrap();
    if extra {
        Linear::new(LinearConfig::new(2, 2).with_bias(false), vb.pp("extra")).unwrap();
    }
    (params, move |x: &Tensor| {
        head.apply(&x.apply(&lstm).unwrap()).unwrap()
    })
}

#[test]
fn a_pytorch_checkpoint_with_bool_and_integer_buffers_loads() {
    let (params, run) = tagger(false);
    let options = LoadOptions::new().with_prefix("model.");
    let report = params.load_with(CHECKPOINT, &options).unwrap();
    assert!(report.missing.is_empty());
    assert_eq!(
        report.unexpected,
        [
            "model.causal",
            "model.norm.bias",
            "model.norm.num_batches_tracked",
            "model.norm.running_mean",
            "model.norm.running_var",
            "model.norm.weight",
        ]
    );
    // The loaded tagger computes what PyTorch's did.
    let y = run(&checkpoint_tensor("x"));
    assert!(max_abs_diff(&y, &checkpoint_tensor("y")).unwrap() < 1e-12);
}

#[test]
fn strict_loading_names_what_is_missing_and_non_strict_reports_it() {
    let (params, _) = tagger(true);
    let before = params
        .get("lstm.weight_ih_l0")
        .unwrap()
        .as_tensor()
        .copy()
        .unwrap();
    // Strict: the checkpoint has no "extra.weight"; nothing changes.
    let strict = LoadOptions::new().with_prefix("model.");
    let err = params
        .load_with(CHECKPOINT, &strict)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("extra.weight") && err.contains("tagger.safetensors"),
        "{err}"
    );
    let now = params.get("lstm.weight_ih_l0").unwrap();
    assert_eq!(max_abs_diff(now.as_tensor(), &before).unwrap(), 0.0);
    // Not strict: the rest loads, the missing and unexpected names come back.
    let report = params
        .load_with(CHECKPOINT, &strict.with_strict(false))
        .unwrap();
    assert_eq!(report.missing, ["extra.weight"]);
    assert_eq!(report.unexpected.len(), 6);
    let loaded = params.get("lstm.weight_ih_l0").unwrap();
    let expected = checkpoint_tensor("model.lstm.weight_ih_l0");
    assert_eq!(max_abs_diff(loaded.as_tensor(), &expected).unwrap(), 0.0);
    // Without the prefix no name matches: all six parameters are missing.
    let (fresh, _) = tagger(false);
    let report = fresh
        .load_with(CHECKPOINT, &LoadOptions::new().with_strict(false))
        .unwrap();
    assert_eq!(report.missing.len(), 6);
    assert!(report.unexpected.contains(&"model.causal".to_owned()));
}

#[test]
fn a_torch_save_state_dict_loads_too() {
    let (params, run) = tagger(false);
    let pth = CHECKPOINT.replace(".safetensors", ".pth");
    let report = params.load_with(&pth, &LoadOptions::new()).unwrap();
    assert!(report.missing.is_empty());
    // The batch norm's tensors are unexpected (candle's reader skips the
    // bool buffer, whose storage it does not read).
    assert!(report.unexpected.contains(&"norm.running_mean".to_owned()));
    let y = run(&checkpoint_tensor("x"));
    assert!(max_abs_diff(&y, &checkpoint_tensor("y")).unwrap() < 1e-12);
}

#[test]
fn a_file_of_neither_format_is_an_error_naming_it() {
    let path = std::env::temp_dir().join(format!("seq-interop-{}.pth", std::process::id()));
    std::fs::write(&path, b"PK\x03\x04 not really a zip").unwrap();
    let err = tagger(false).0.load(&path).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("torch.save"),
        "{err}"
    );
    std::fs::write(&path, b"plain text").unwrap();
    let err = tagger(false).0.load(&path).unwrap_err().to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
    std::fs::remove_file(&path).unwrap();
}

/// y = 2x - 1 by one linear unit, for the optimiser tests.
struct Line(Linear);

impl seq::train::Task<(Tensor, Tensor)> for Line {
    fn loss(&self, (x, y): &(Tensor, Tensor), _mode: Mode) -> seq::core::Result<Tensor> {
        seq::train::loss::mse(&self.0.apply(x)?, y)
    }
}

/// The line's parameters after 20 epochs of 4 batches with `optimizer`
/// (made from the fresh parameters), and what the trainer returned.
fn train_line<O: seq::train::Optimizer>(
    optimizer: impl Fn(&Params) -> O,
    checkpoint: Option<PathBuf>,
) -> (Vec<f64>, Result<seq::train::History, seq::train::Error>) {
    let params = Params::new(5);
    let vb = params.var_builder(DType::F64, &Device::Cpu);
    let model = Line(Linear::new(LinearConfig::new(1, 1), vb).unwrap());
    let batches: Vec<(Tensor, Tensor)> = (0..4)
        .map(|i| {
            let x = Tensor::arange(0.0, 8.0, &Device::Cpu).unwrap();
            let x = x.affine(0.1, 0.1 * i as f64).unwrap().unsqueeze(1).unwrap();
            let y = x.affine(2.0, -1.0).unwrap();
            (x, y)
        })
        .collect();
    let mut config = seq::train::TrainerConfig::new(20).with_quiet(true);
    if let Some(path) = checkpoint {
        config = config.with_checkpoint(path);
    }
    let mut trainer = seq::train::Trainer::new(config, params.clone(), optimizer(&params));
    let history = trainer.fit(&model, &batches, None);
    (param_values(&params).unwrap(), history)
}

#[test]
fn a_candle_nn_optimizer_drives_the_trainer() {
    use seq::train::{CandleOptimizer, OptimizerConfig};
    let candle_sgd = |p: &Params| {
        let vars = p.named_vars().into_iter().map(|(_, v)| v).collect();
        CandleOptimizer(<candle_nn::SGD as candle_nn::Optimizer>::new(vars, 0.5).unwrap())
    };
    let (with_candle, history) = train_line(candle_sgd, None);
    let loss = history.unwrap().series("train_loss");
    assert!(loss[loss.len() - 1] < loss[0] / 100.0, "{loss:?}");
    // Plain SGD both ways: the same steps as seq's own.
    let seq_sgd = |p: &Params| OptimizerConfig::sgd(0.5).build(p.named_vars()).unwrap();
    let (with_seq, _) = train_line(seq_sgd, None);
    for (a, b) in with_candle.iter().zip(&with_seq) {
        assert!((a - b).abs() < 1e-12, "{with_candle:?} vs {with_seq:?}");
    }
    // Checkpoints need optimiser state, which candle-nn keeps private.
    let dir = std::env::temp_dir().join(format!("seq-interop-ck-{}", std::process::id()));
    let (_, history) = train_line(candle_sgd, Some(dir.join("ck.safetensors")));
    let err = history.err().unwrap().to_string();
    assert!(err.contains("candle-nn optimiser's state"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
