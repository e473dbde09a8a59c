//! The trainer: a small model learns a synthetic task with early stopping
//! firing; a resumed run repeats the uninterrupted one step for step; an
//! interrupted save keeps the old checkpoint; a non-finite loss stops with
//! the step named; logs and curves are written (the events in `events.rs`).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use candle_core::{DType, Device, Tensor};
use seq_core::testing::param_values;
use seq_core::{Mode, Params, Result, Rng};
use seq_train::checkpoint::{self, Checkpoint};
use seq_train::{
    DataSource, EarlyStopping, Error, Goal, OptimizerConfig, Planned, Schedule, Task, Trainer,
    TrainerConfig,
};

mod common;
use common::{data, model, model_in, temp_dir, Batch, Mlp};

#[test]
fn a_small_model_fits_a_synthetic_task_and_stops_early() {
    let (p, m) = model(1, 0.0);
    let opt = OptimizerConfig::adam(0.01).build(p.named_vars()).unwrap();
    let mut cfg = TrainerConfig::new(400);
    cfg.quiet = true;
    cfg.early_stopping = Some(EarlyStopping {
        min_delta: 1e-6,
        ..EarlyStopping::new("val_loss", Goal::Min, 10)
    });
    let dir = temp_dir("fit");
    cfg.log_dir = Some(dir.clone());
    let mut trainer = Trainer::new(cfg, p.clone(), opt);
    let history = trainer.fit(&m, &data(2, 32), Some(&data(3, 2))).unwrap();
    let epochs = history.epochs.len();
    assert!(epochs < 400, "early stopping fired after {epochs} epochs");
    let val = trainer.evaluate(&m, &data(3, 2)).unwrap();
    let loss = val.iter().find(|(k, _)| k == "loss").unwrap().1;
    assert!(loss < 2e-3, "near-zero loss: {loss}");
    // The best weights were restored: the final loss is the best recorded.
    let best = history
        .series("val_loss")
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    assert!((loss - best).abs() < 1e-12, "{loss} vs best {best}");
    let csv = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,train_loss,val_loss,val_max_error,lr,data_wait_s,seconds")
            && csv.lines().count() == epochs + 1
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("history.jsonl"))
            .unwrap()
            .lines()
            .count(),
        epochs
    );
    assert!(std::fs::read_to_string(dir.join("curves.svg"))
        .unwrap()
        .contains("<svg"));
}

/// Losses of every step of a run, through the step hook.
fn run(trainer: &mut Trainer<seq_train::Optim>, m: &Mlp, train: &[Batch]) -> Vec<f64> {
    let losses = Rc::new(RefCell::new(Vec::new()));
    let sink = losses.clone();
    trainer.on_step(move |e| sink.borrow_mut().push(e.loss));
    trainer.fit(m, train, None).unwrap();
    let out = losses.borrow().clone();
    out
}

#[test]
fn a_resumed_run_repeats_the_uninterrupted_one_step_for_step() {
    let train = data(4, 6);
    let config = |epochs: usize, ck: Option<PathBuf>| TrainerConfig {
        epochs,
        seed: 9,
        schedule: Schedule::Cosine {
            warmup: 5,
            total: 48,
            min_lr: 1e-4,
        },
        clip_norm: Some(1.0),
        checkpoint: ck,
        quiet: true,
        ..TrainerConfig::new(epochs)
    };
    // Dropout and a schedule make the trajectory depend on the step.
    let (p, m) = model(6, 0.2);
    let mut full = Trainer::new(
        config(8, None),
        p.clone(),
        OptimizerConfig::adamw(0.01).build(p.named_vars()).unwrap(),
    );
    let whole = run(&mut full, &m, &train);

    let path = temp_dir("resume").join("ck.safetensors");
    let (p1, m1) = model(6, 0.2);
    let mut first = Trainer::new(
        config(3, Some(path.clone())),
        p1.clone(),
        OptimizerConfig::adamw(0.01).build(p1.named_vars()).unwrap(),
    );
    let mut steps = run(&mut first, &m1, &train);
    // A fresh process: new model (other seed), new optimiser, then resume.
    let (p2, m2) = model(77, 0.2);
    let mut second = Trainer::new(
        config(8, Some(path)),
        p2.clone(),
        OptimizerConfig::adamw(0.01).build(p2.named_vars()).unwrap(),
    );
    second
        .resume(&first.config.checkpoint.clone().unwrap())
        .unwrap();
    steps.extend(run(&mut second, &m2, &train));

    assert_eq!(steps.len(), whole.len());
    assert_eq!(steps, whole, "the resumed run must give the same losses");
    assert_eq!(second.history().epochs.len(), 8);
}

#[test]
fn a_save_interrupted_before_the_rename_keeps_the_old_checkpoint() {
    let dir = temp_dir("atomic");
    let path = dir.join("ck.safetensors");
    let (p, m) = model(1, 0.0);
    let mut cfg = TrainerConfig::new(2);
    (cfg.quiet, cfg.checkpoint) = (true, Some(path.clone()));
    let mut t = Trainer::new(
        cfg,
        p.clone(),
        OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap(),
    );
    t.fit(&m, &data(1, 2), None).unwrap();
    let saved = Checkpoint::load(&path).unwrap().state().unwrap();
    assert_eq!(saved.epoch, 2);

    // Crash 1: the new checkpoint was written in full but never renamed.
    let state = checkpoint::TrainerState {
        epoch: 99,
        ..saved.clone()
    };
    let staged = checkpoint::stage(&path, &p, vec![], &state, None).unwrap();
    let tmp = staged.temporary_path().to_path_buf();
    // A crash runs no destructor: the temporary file stays.
    std::mem::forget(staged);
    // Crash 2: the temporary file is cut short mid-write.
    let bytes = std::fs::read(&tmp).unwrap();
    std::fs::write(&tmp, &bytes[..bytes.len() / 3]).unwrap();

    let after = Checkpoint::load(&path).unwrap();
    assert_eq!(after.state().unwrap(), saved);
    let (q, _) = model(50, 0.0);
    after.restore_weights(&q, "model").unwrap();
    let (a, b) = (p.get("l1.weight").unwrap(), q.get("l1.weight").unwrap());
    assert_eq!(
        a.as_tensor().to_vec2::<f64>().unwrap(),
        b.as_tensor().to_vec2::<f64>().unwrap()
    );
}

#[test]
fn a_non_finite_loss_stops_training_naming_the_step() {
    let dir = temp_dir("nan");
    let path = dir.join("ck.safetensors");
    let (p, mut m) = model(1, 0.0);
    let mut cfg = TrainerConfig::new(5);
    (cfg.quiet, cfg.checkpoint) = (true, Some(path.clone()));
    let opt = OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg, p.clone(), opt);
    t.config.epochs = 1;
    t.fit(&m, &data(1, 3), None).unwrap();
    let good = std::fs::read(&path).unwrap();
    // Blow the model up: the loss overflows to infinity.
    m.scale = 1e300;
    t.config.epochs = 5;
    let err = t.fit(&m, &data(1, 3), None).unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 3, .. }), "{err}");
    assert!(
        err.to_string().starts_with("step 3: loss is not finite"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        good,
        "the last good checkpoint stays"
    );
}

/// Every bit of every parameter.
fn bits(p: &Params) -> Vec<u64> {
    param_values(p)
        .unwrap()
        .into_iter()
        .map(f64::to_bits)
        .collect()
}

#[test]
fn a_step_that_makes_the_weights_infinite_writes_no_checkpoint() {
    let dir = temp_dir("inf-weights");
    let path = dir.join("ck.safetensors");
    let (p, mut m) = model(1, 0.0);
    let mut cfg = TrainerConfig::new(1);
    (cfg.quiet, cfg.checkpoint) = (true, Some(path.clone()));
    let opt = OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg, p.clone(), opt);
    let train = data(1, 1);
    t.fit(&m, &train, None).unwrap();
    let good = bits(&p);
    // A finite loss (about 1e200) and finite gradients, but a learning
    // rate of 1e300 times them overflows the weights.
    m.scale = 1e100;
    t.config.schedule = Schedule::Step {
        every: 1,
        gamma: 1e301,
    };
    t.config.epochs = 2;
    let err = t.fit(&m, &train, None).unwrap_err().to_string();
    assert!(
        err.contains("not finite") && err.contains("ck.safetensors"),
        "{err}"
    );
    let saved = Checkpoint::load(&path).unwrap();
    assert_eq!(saved.state().unwrap().epoch, 1);
    let (q, _) = model(9, 0.0);
    saved.restore_weights(&q, "model").unwrap();
    assert_eq!(
        bits(&q),
        good,
        "the checkpoint holds the last good step's weights"
    );
}

#[test]
fn a_failed_resume_leaves_the_model_and_the_trainer_as_they_were() {
    let dir = temp_dir("resume-atomic");
    let path = dir.join("ck.safetensors");
    let (p, m) = model(1, 0.0);
    let mut cfg = TrainerConfig::new(2);
    (cfg.quiet, cfg.checkpoint) = (true, Some(path.clone()));
    let adam = || OptimizerConfig::adam(0.01);
    let mut t = Trainer::new(
        cfg.clone(),
        p.clone(),
        adam().build(p.named_vars()).unwrap(),
    );
    t.fit(&m, &data(1, 2), None).unwrap();
    let good = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();

    // Each case spoils one entry of the good checkpoint.
    type Spoil = fn(&mut std::collections::HashMap<String, Tensor>);
    let cases: [(&str, Spoil); 9] = [
        ("a weight of the wrong shape", |c| {
            c.insert(
                "model/l2.weight".into(),
                Tensor::zeros((2, 32), DType::F64, &Device::Cpu).unwrap(),
            );
        }),
        ("a weight missing", |c| {
            c.remove("model/l1.bias");
        }),
        ("a NaN weight", |c| {
            let w = c["model/l2.bias"].clone();
            c.insert("model/l2.bias".into(), (w * f64::NAN).unwrap());
        }),
        ("an optimiser slot of the wrong shape", |c| {
            c.insert(
                "optim/l2.bias.exp_avg".into(),
                Tensor::zeros(3, DType::F64, &Device::Cpu).unwrap(),
            );
        }),
        ("a slot of another optimiser", |c| {
            c.insert(
                "optim/l2.bias.momentum".into(),
                Tensor::zeros(1, DType::F64, &Device::Cpu).unwrap(),
            );
        }),
        ("a fractional epoch", |c| {
            c.insert(
                "trainer/epoch".into(),
                Tensor::new(&[1.5f64], &Device::Cpu).unwrap(),
            );
        }),
        ("a negative step", |c| {
            c.insert(
                "trainer/step".into(),
                Tensor::new(&[-4f64], &Device::Cpu).unwrap(),
            );
        }),
        ("a history shorter than the epochs", |c| {
            c.insert(
                "history/train_loss".into(),
                Tensor::new(&[0.5f64], &Device::Cpu).unwrap(),
            );
        }),
        ("no seed", |c| {
            c.remove("trainer/seed");
        }),
    ];
    for (what, spoil) in cases {
        let mut bad = good.clone();
        spoil(&mut bad);
        let spoilt = dir.join("spoilt.safetensors");
        candle_core::safetensors::save(&bad, &spoilt).unwrap();

        let (q, _) = model(7, 0.0);
        let mut cfg = cfg.clone();
        cfg.checkpoint = None;
        let mut other = Trainer::new(cfg, q.clone(), adam().build(q.named_vars()).unwrap());
        other.fit(&m, &data(2, 1), None).unwrap();
        let (before, history) = (bits(&q), other.history().clone());
        let err = other.resume(&spoilt).unwrap_err().to_string();
        assert!(err.contains("spoilt.safetensors"), "{what}: {err}");
        assert_eq!(bits(&q), before, "{what}: a weight changed");
        assert_eq!(other.history(), &history, "{what}: the history changed");
        // The trainer goes on from where it was, not from the checkpoint.
        other.config.epochs = 3;
        other.fit(&m, &data(2, 1), None).unwrap();
        assert_eq!(other.history().epochs.len(), 3, "{what}");
    }
}

#[test]
fn a_non_finite_validation_loss_stops_training_before_its_checkpoint() {
    let dir = temp_dir("nan-val");
    let path = dir.join("ck.safetensors");
    let (p, m) = model(1, 0.0);
    let mut cfg = TrainerConfig::new(3);
    (cfg.quiet, cfg.checkpoint) = (true, Some(path.clone()));
    let opt = OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg, p.clone(), opt);
    let mut val = data(2, 1);
    val[0].1 = (&val[0].1 * f64::NAN).unwrap(); // NaN targets
    let err = t.fit(&m, &data(1, 2), Some(&val)).unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 2, .. }), "{err}");
    assert!(err.to_string().contains("validation loss"), "{err}");
    assert!(
        !path.exists(),
        "no checkpoint of the epoch whose validation failed"
    );
}

/// 64 examples as one `[64, 2]` batch (inputs, targets).
fn examples(seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let xs: Vec<f64> = (0..64 * 2).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
    let ys: Vec<f64> = xs.chunks(2).map(|v| (3.0 * v[0]).sin()).collect();
    (
        Tensor::from_vec(xs, (64, 2), &Device::Cpu).unwrap(),
        Tensor::from_vec(ys, (64, 1), &Device::Cpu).unwrap(),
    )
}

/// Rows `rows` of `all`.
fn rows(all: &Batch, rows: &[usize]) -> Batch {
    let idx = Tensor::from_vec(
        rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
        rows.len(),
        &Device::Cpu,
    )
    .unwrap();
    (
        all.0.index_select(&idx, 0).unwrap(),
        all.1.index_select(&idx, 0).unwrap(),
    )
}

/// The 64 examples in batches of `size`, drawn afresh every epoch from the
/// seed and the epoch.
fn per_epoch(all: &Batch, size: usize) -> impl DataSource<Batch = Batch> + '_ {
    Planned::new(
        move |epoch: usize, seed: u64| -> std::result::Result<Vec<Vec<usize>>, Error> {
            let mut idx: Vec<usize> = (0..64).collect();
            Rng::new(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).shuffle(&mut idx);
            Ok(idx.chunks(size).map(<[usize]>::to_vec).collect())
        },
        move |r: Vec<usize>| Ok(rows(all, &r)),
    )
}

#[test]
fn batches_change_every_epoch_and_repeat_with_the_seed() {
    let all = examples(3);
    let members = |seed: u64| {
        let (p, m) = model(1, 0.0);
        let mut cfg = TrainerConfig::new(3);
        (cfg.quiet, cfg.seed) = (true, seed);
        let mut t = Trainer::new(
            cfg,
            p.clone(),
            OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap(),
        );
        // The first input of every batch trained on identifies the batch.
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        let source = per_epoch(&all, 16);
        let recorder = Recorder {
            inner: &m,
            seen: sink,
        };
        t.fit(&recorder, &source, None).unwrap();
        let out = seen.borrow().clone();
        out
    };
    let a = members(5);
    assert_eq!(a.len(), 12, "3 epochs of 4 batches");
    let epoch = |e: usize| {
        let mut firsts = a[4 * e..4 * e + 4].to_vec();
        firsts.sort_by(f64::total_cmp);
        firsts
    };
    assert_ne!(epoch(0), epoch(1), "the same batches in epochs 1 and 2");
    assert_eq!(a, members(5), "one seed, other batches");
    assert_ne!(a, members(6));
}

/// A task that records the first input value of every training batch.
struct Recorder<'a> {
    inner: &'a Mlp,
    seen: Rc<RefCell<Vec<f64>>>,
}

impl Task<Batch> for Recorder<'_> {
    fn loss(&self, b: &Batch, mode: Mode) -> Result<Tensor> {
        if mode == Mode::Train {
            let first = b.0.flatten_all()?.get(0)?.to_scalar::<f64>()?;
            self.seen.borrow_mut().push(first);
        }
        self.inner.loss(b, mode)
    }

    fn size(&self, b: &Batch) -> usize {
        self.inner.size(b)
    }
}

#[test]
fn a_run_resumed_mid_epoch_repeats_the_uninterrupted_losses() {
    let all = examples(4);
    let source = per_epoch(&all, 8); // 8 batches an epoch
    let config = |ck: Option<PathBuf>| TrainerConfig {
        seed: 2,
        schedule: Schedule::Cosine {
            warmup: 3,
            total: 24,
            min_lr: 1e-4,
        },
        checkpoint: ck,
        checkpoint_every: Some(5),
        quiet: true,
        ..TrainerConfig::new(3)
    };
    let trainer = |seed: u64, ck| {
        let (p, m) = model(seed, 0.2);
        let opt = OptimizerConfig::adamw(0.01).build(p.named_vars()).unwrap();
        (Trainer::new(config(ck), p, opt), m)
    };
    let losses = |t: &mut Trainer<seq_train::Optim>| {
        let out = Rc::new(RefCell::new(Vec::new()));
        let sink = out.clone();
        t.on_step(move |e| sink.borrow_mut().push(e.loss));
        out
    };
    let (mut whole, m) = trainer(6, None);
    let all_losses = losses(&mut whole);
    let history = whole.fit(&m, &source, None).unwrap();

    // Interrupted in step 13 (epoch 2): the checkpoint after step 10 (two
    // batches into epoch 2) is the last.
    let path = temp_dir("resume-mid").join("ck.safetensors");
    let (mut first, m1) = trainer(6, Some(path.clone()));
    let before = losses(&mut first);
    let stop = Failing {
        inner: &m1,
        at: 13,
        calls: RefCell::new(0),
    };
    assert!(first.fit(&stop, &source, None).is_err());
    let saved = Checkpoint::load(&path).unwrap().state().unwrap();
    assert_eq!((saved.step, saved.epoch, saved.batch), (10, 1, 2));

    let (mut second, m2) = trainer(99, Some(path.clone()));
    second.resume(&path).unwrap();
    let after = losses(&mut second);
    let resumed = second.fit(&m2, &source, None).unwrap();
    let mut steps = before.borrow()[..10].to_vec();
    steps.extend(after.borrow().iter());
    assert_eq!(steps, *all_losses.borrow(), "losses step for step");
    assert_eq!(resumed.series("train_loss"), history.series("train_loss"));
}

/// A task whose training loss fails at its `at`-th call.
struct Failing<'a> {
    inner: &'a Mlp,
    at: usize,
    calls: RefCell<usize>,
}

impl Task<Batch> for Failing<'_> {
    fn loss(&self, b: &Batch, mode: Mode) -> Result<Tensor> {
        *self.calls.borrow_mut() += 1;
        if *self.calls.borrow() > self.at {
            return Err(seq_core::Error::config("test", "the process dies here"));
        }
        self.inner.loss(b, mode)
    }

    fn size(&self, b: &Batch) -> usize {
        self.inner.size(b)
    }
}

#[test]
fn four_micro_batches_of_16_step_as_one_batch_of_64() {
    // f64 to 1e-12, f32 to 1e-6 of the largest weight.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-6)] {
        let all = examples(5);
        let all = (
            all.0.to_dtype(dtype).unwrap(),
            all.1.to_dtype(dtype).unwrap(),
        );
        let weights = |accumulate: usize, size: usize, steps: bool| {
            let (p, m) = model_in(8, 0.0, dtype);
            let mut cfg = TrainerConfig::new(usize::from(steps));
            (cfg.quiet, cfg.accumulate) = (true, accumulate);
            let opt = OptimizerConfig::sgd(0.5).build(p.named_vars()).unwrap();
            let mut t = Trainer::new(cfg, p.clone(), opt);
            // One fixed order, cut into batches of `size`.
            let source = Planned::new(
                move |_: usize, _: u64| {
                    Ok((0..64)
                        .collect::<Vec<usize>>()
                        .chunks(size)
                        .map(<[usize]>::to_vec)
                        .collect())
                },
                |r: Vec<usize>| Ok::<_, Error>(rows(&all, &r)),
            );
            t.fit(&m, &source, None).unwrap();
            param_values(&p).unwrap()
        };
        let (one, four) = (weights(1, 64, true), weights(4, 16, true));
        assert_ne!(one, weights(1, 64, false), "the step moved the weights");
        let diff = one
            .iter()
            .zip(&four)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let scale = one.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = if dtype == DType::F32 {
            tol * scale
        } else {
            tol
        };
        assert!(
            diff < tol,
            "{dtype:?}: one batch and four micro-batches differ by {diff:e}"
        );
    }
}

#[test]
fn a_frozen_parameter_stays_and_a_group_steps_at_its_own_rate() {
    let all = examples(6);
    let (p, m) = model(3, 0.0);
    let start: Vec<(String, Vec<f64>)> = p
        .named_vars()
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
            )
        })
        .collect();
    assert_eq!(p.freeze("l1.").unwrap(), 2);
    assert!(p.freeze("nothing.").is_err());
    // Plain SGD, the output bias at a tenth of the rate.
    let opt = OptimizerConfig::sgd(0.1)
        .build(p.named_vars())
        .unwrap()
        .with_group(seq_train::ParamGroup::new(["l2.bias"]).with_lr_scale(0.1))
        .unwrap();
    let mut cfg = TrainerConfig::new(1);
    cfg.quiet = true;
    let mut t = Trainer::new(cfg, p.clone(), opt);
    let batch = vec![all.clone()];
    // The gradient of the one step, from a copy of the model.
    let grad = {
        let (q, mq) = model(3, 0.0);
        let b = q.get("l2.bias").unwrap();
        let g = mq.loss(&all, Mode::Train).unwrap().backward().unwrap();
        g.get(b.as_tensor()).unwrap().to_vec1::<f64>().unwrap()
    };
    t.fit(&m, &batch, None).unwrap();
    for (name, before) in &start {
        let after: Vec<f64> = p
            .get(name)
            .unwrap()
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        match name.as_str() {
            "l1.weight" | "l1.bias" => {
                let same = before
                    .iter()
                    .zip(&after)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{name} is frozen and changed");
            }
            "l2.bias" => {
                for ((b, a), g) in before.iter().zip(&after).zip(&grad) {
                    assert!((b - 0.01 * g - a).abs() < 1e-15, "l2.bias stepped at 0.01");
                }
            }
            _ => assert_ne!(before, &after, "{name} is trained"),
        }
    }
}

/// Stops at step 3, saves after every epoch.
struct Act {
    path: PathBuf,
}

impl seq_train::Callback for Act {
    fn on_step(&mut self, e: &seq_train::StepEvent) -> seq_train::Control {
        match e.step {
            3 => seq_train::Control::stop(),
            _ => seq_train::Control::go_on(),
        }
    }

    fn on_epoch(&mut self, _: usize, _: &[(String, f64)], _: f64) -> seq_train::Control {
        seq_train::Control::save(&self.path)
    }
}

#[test]
fn callbacks_stop_save_and_cut_the_rate() {
    let dir = temp_dir("callbacks");
    let (p, m) = model(2, 0.0);
    let mut cfg = TrainerConfig::new(5);
    cfg.quiet = true;
    let opt = OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg.clone(), p.clone(), opt);
    let path = dir.join("saved.safetensors");
    t.add_callback(Act { path: path.clone() });
    let steps = Rc::new(RefCell::new(0));
    let sink = steps.clone();
    t.on_step(move |_| *sink.borrow_mut() += 1);
    let history = t.fit(&m, &data(1, 10), None).unwrap();
    assert_eq!(
        (*steps.borrow(), history.epochs.len()),
        (4, 1),
        "stopped after step 3"
    );
    let (q, _) = model(9, 0.0);
    q.load(&path).unwrap();
    let w = |p: &Params| {
        p.get("l1.weight")
            .unwrap()
            .as_tensor()
            .to_vec2::<f64>()
            .unwrap()
    };
    assert_eq!(w(&p), w(&q), "the epoch's weights were saved");

    // A validation loss that never improves: the rate halves after 2 more epochs.
    let (p, m) = model(2, 0.0);
    let opt = OptimizerConfig::sgd(0.1).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg, p.clone(), opt);
    t.add_callback(
        seq_train::ReduceLrOnPlateau::new("val_loss", Goal::Max)
            .with_patience(1)
            .with_factor(0.5),
    );
    let lrs = Rc::new(RefCell::new(Vec::new()));
    let sink = lrs.clone();
    t.on_step(move |e| sink.borrow_mut().push(e.lr));
    // Goal::Max on a falling loss: no epoch improves on the first.
    t.fit(&m, &data(1, 1), Some(&data(2, 1))).unwrap();
    assert_eq!(*lrs.borrow(), [0.1, 0.1, 0.1, 0.05, 0.05]);
}
