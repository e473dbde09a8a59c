//! The course's argument for gated cells, measured on the adding problem
//! (Hochreiter & Schmidhuber, 1997; the version of Le et al., 2015): each
//! step carries a random value in [0, 1) and a marker; two steps are
//! marked, one in each half of the sequence, and the target is the sum of
//! their values, read from the last step's state. A sequence counts as
//! right when the prediction is within 0.04 of the sum (Hochreiter and
//! Schmidhuber's criterion); always answering 1, the mean sum, is right
//! about 8% of the time.
//!
//! The Elman RNN, the LSTM and the GRU (one layer, same width, same
//! optimiser and budget) are trained at growing lengths. The gradient of
//! the loss with respect to each step's input, `||dL/dx_t||`, is measured
//! at the longest length before and after training: it is the signal that
//! must reach step `t` for the network to learn to keep what it saw there.
//! Untrained, it shrinks geometrically with the distance from the end in
//! all three (vanishing gradients: the gates start near one half); after
//! training, a gated cell that solved the task carries it back through its
//! additive state update, and the Elman RNN's still vanishes.
//!
//! ```text
//! cargo run --release --example long_memory
//! cargo run --release --example long_memory -- --lengths 25,100 --cells rnn,lstm --steps 3000
//! ```

#[path = "../common/mod.rs"]
mod common;
mod plot;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use clap::Parser;
use seq::core::{Activation, Linear, LinearConfig, Mode, Module, Params, Rng, Seq};
use seq::recurrent::{Gru, Lstm, RecurrentConfig, Rnn};
use seq::train::{loss, Callback, Control, OptimizerConfig, Planned, Task, Trainer, TrainerConfig};

use common::cli::{at_least, positive};
use common::report::write_results;
use common::Error;
use plot::{plot, summary, write_norms, Norms};

/// Steps per epoch: validation, and the check for a solved task, come
/// after each.
const STEPS_PER_EPOCH: usize = 100;
/// Validation accuracy at which a run stops: solved.
const SOLVED: f64 = 0.99;
const BATCH: usize = 64;

/// The adding problem at growing lengths: Elman RNN, LSTM and GRU.
#[derive(Parser)]
struct Args {
    /// Sequence lengths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,25,50,100,200", value_parser = at_least(2))]
    lengths: Vec<usize>,
    /// Cells, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "rnn,lstm,gru", value_parser = ["rnn", "lstm", "gru"])]
    cells: Vec<String>,
    /// Most training steps per run (batches of 64).
    #[arg(long, default_value_t = 3000, value_parser = positive)]
    steps: usize,
    /// State width.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    hidden: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Results, gradient norms and their plot.
    #[arg(long, default_value = "runs/long_memory")]
    out: PathBuf,
    /// A tiny run in seconds (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
}

/// The options, with `--smoke`'s tiny sizes.
fn parse_args() -> Args {
    let mut args = Args::parse();
    if args.smoke {
        (args.lengths, args.steps, args.hidden) = (vec![5, 10], 2, 8);
        args.out = args.out.join("smoke");
    }
    args
}

/// Inputs `[batch, T, 2]` (value, marker) and sums `[batch, 1]`.
#[derive(Clone)]
struct Batch {
    x: Tensor,
    y: Tensor,
}

/// A batch of the adding problem at length `t`, drawn from `seed`.
fn adding(t: usize, batch: usize, seed: u64) -> seq::core::Result<Batch> {
    let mut rng = Rng::new(seed);
    let (mut x, mut y) = (vec![0f32; batch * t * 2], Vec::with_capacity(batch));
    for b in 0..batch {
        let marked = [rng.below(t / 2), t / 2 + rng.below(t - t / 2)];
        let mut sum = 0.0;
        for s in 0..t {
            let v = rng.uniform() as f32;
            x[(b * t + s) * 2] = v;
            if marked.contains(&s) {
                x[(b * t + s) * 2 + 1] = 1.0;
                sum += v;
            }
        }
        y.push(sum);
    }
    Ok(Batch {
        x: Tensor::from_vec(x, (batch, t, 2), &Device::Cpu)?,
        y: Tensor::from_vec(y, (batch, 1), &Device::Cpu)?,
    })
}

/// One recurrent layer read at the last step, then a linear output.
struct Model {
    cell: Box<dyn Module>,
    head: Linear,
}

impl Model {
    fn new(cell: &str, hidden: usize, vb: VarBuilder) -> seq::core::Result<Self> {
        let config = RecurrentConfig::new(2, hidden);
        let cell: Box<dyn Module> = match cell {
            "rnn" => Box::new(Rnn::new(config, Activation::Tanh, vb.pp("rnn"))?),
            "lstm" => Box::new(Lstm::new(config, vb.pp("lstm"))?),
            _ => Box::new(Gru::new(config, vb.pp("gru"))?),
        };
        let head = Linear::new(LinearConfig::new(hidden, 1), vb.pp("head"))?;
        Ok(Model { cell, head })
    }

    /// Predicted sums `[batch, 1]`.
    fn predict(&self, x: &Tensor, mode: Mode) -> seq::core::Result<Tensor> {
        let h = self.cell.forward(&Seq::new(x.clone())?, mode)?;
        let t = h.time();
        self.head
            .apply(&h.values().narrow(1, t - 1, 1)?.squeeze(1)?)
    }
}

impl Task<Batch> for Model {
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        loss::mse(&self.predict(&b.x, mode)?, &b.y)
    }

    /// The share of sequences whose prediction is within 0.04 of the sum.
    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut right, mut n) = (0, 0);
        for b in batches {
            let err = (self.predict(&b.x, Mode::Eval)? - &b.y)?
                .abs()?
                .flatten_all()?;
            right += err.to_vec1::<f32>()?.iter().filter(|&&e| e < 0.04).count();
            n += b.y.dims()[0];
        }
        Ok(vec![("accuracy".into(), right as f64 / n.max(1) as f64)])
    }

    fn size(&self, b: &Batch) -> usize {
        b.y.dims()[0]
    }
}

/// Stops training once the validation accuracy reaches [`SOLVED`].
struct StopWhenSolved;

impl Callback for StopWhenSolved {
    fn on_epoch(&mut self, _epoch: usize, record: &[(String, f64)], _lr: f64) -> Control {
        match record.iter().find(|(k, _)| k == "val_accuracy") {
            Some((_, acc)) if *acc >= SOLVED => Control::stop(),
            _ => Control::go_on(),
        }
    }
}

/// `||dL/dx_t||` for each step of a batch of the adding problem at length
/// `t`, averaged over the batch's sequences, for `cell` with the weights in
/// `params`. Computed in f64 on a copy of the weights: over 200 steps the
/// Elman RNN's gradient falls below the smallest f32.
fn gradient_norms(
    cell: &str,
    params: &Params,
    hidden: usize,
    t: usize,
    seed: u64,
) -> seq::core::Result<Vec<f64>> {
    let wide = Params::new(seed);
    let model = Model::new(cell, hidden, wide.var_builder(DType::F64, &Device::Cpu))?;
    for (name, var) in wide.named_vars() {
        let trained = params
            .get(&name)
            .ok_or_else(|| seq::core::Error::config("long_memory", format!("no weight {name}")))?;
        var.set(&trained.as_tensor().to_dtype(DType::F64)?)?;
    }
    let batch = adding(t, BATCH, seed ^ 0x9ad)?;
    let x = Var::from_tensor(&batch.x.to_dtype(DType::F64)?)?;
    let y = batch.y.to_dtype(DType::F64)?;
    let loss = loss::mse(&model.predict(x.as_tensor(), Mode::Eval)?, &y)?;
    let grads = loss.backward()?;
    let g = grads
        .get(x.as_tensor())
        .ok_or_else(|| seq::core::Error::config("long_memory", "no gradient for the input"))?;
    // [batch, T, 2] -> [T]: the norm per sequence and step, then the batch mean.
    Ok(g.sqr()?.sum(2)?.sqrt()?.mean(0)?.to_vec1::<f64>()?)
}

fn main() {
    common::main("long_memory", || run(parse_args()))
}

fn run(args: Args) -> Result<(), Error> {
    let longest = args.lengths.iter().copied().max().unwrap_or(2);
    println!("accuracy (|prediction - sum| < 0.04) on 1024 new sequences (steps of 64 taken)");
    print!("| length |");
    for cell in &args.cells {
        print!(" {cell} |");
    }
    println!("\n|---|{}", "---|".repeat(args.cells.len()));
    let (mut rows, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
    for &t in &args.lengths {
        print!("| {t} |");
        for cell in &args.cells {
            let start = Instant::now();
            let params = Params::new(args.seed);
            let model = Model::new(
                cell,
                args.hidden,
                params.var_builder(DType::F32, &Device::Cpu),
            )?;
            if t == longest {
                before.push((
                    cell.clone(),
                    gradient_norms(cell, &params, args.hidden, t, args.seed)?,
                ));
            }
            let steps = train(&model, params.clone(), cell, t, &args)?;
            let acc = model.metrics(&test_set(t, args.seed)?)?[0].1;
            if t == longest {
                after.push((
                    cell.clone(),
                    gradient_norms(cell, &params, args.hidden, t, args.seed)?,
                ));
            }
            print!(" {acc:.3} ({steps}) |");
            std::io::Write::flush(&mut std::io::stdout())?;
            rows.push(serde_json::json!({
                "cell": cell, "length": t, "test_accuracy": acc, "steps": steps,
                "seconds": start.elapsed().as_secs_f64(),
            }));
        }
        println!();
    }
    println!("\n||dL/dx_t|| at T = {longest}: first step / last step");
    println!("| cell | untrained | trained |");
    println!("|---|---|---|");
    let mut gradient = Vec::new();
    for ((cell, b), (_, a)) in before.iter().zip(&after) {
        let (b, a) = (summary(b), summary(a));
        println!("| {cell} | {:.1e} | {:.1e} |", b.2, a.2);
        gradient.push(serde_json::json!({
            "cell": cell,
            "untrained": {"first_step": b.0, "last_step": b.1},
            "trained": {"first_step": a.0, "last_step": a.1},
        }));
    }
    plot(
        &args.out.join("gradient_norms.svg"),
        &[
            (format!("untrained, T = {longest}"), before.clone()),
            (format!("trained at T = {longest}"), after.clone()),
        ],
    )?;
    let rename = |tag: &str, v: &[Norms]| -> Vec<Norms> {
        v.iter()
            .map(|(c, g)| (format!("{c}_{tag}"), g.clone()))
            .collect()
    };
    let mut all = rename("untrained", &before);
    all.extend(rename("trained", &after));
    write_norms(&args.out.join("gradient_norms.tsv"), &all)?;
    write_results(
        &args.out,
        &serde_json::json!({
            "example": "long_memory",
            "hidden": args.hidden, "max_steps": args.steps, "lr": args.lr, "seed": args.seed,
            "gradient_norms": {"length": longest, "cells": gradient},
            "runs": rows,
        }),
    )?;
    println!(
        "results, gradient norms and their plot in {}",
        args.out.display()
    );
    Ok(())
}

/// 1024 sequences at length `t` that training never sees (seeds 5..=20).
fn test_set(t: usize, seed: u64) -> seq::core::Result<Vec<Batch>> {
    (5..=20u64)
        .map(|k| adding(t, BATCH, seed.wrapping_mul(1 << 40) ^ k))
        .collect()
}

/// Trains `model` (whose parameters are `params`) at length `t` until it
/// solves the task or the steps run out; the steps taken.
fn train(model: &Model, params: Params, cell: &str, t: usize, args: &Args) -> Result<usize, Error> {
    let seed = args.seed;
    // New batches every step: seeds 2^20 (epoch + 1) + i, disjoint from
    // the validation (1..=4) and test (5..=20) batches.
    let source = Planned::new(
        |epoch, _| {
            Ok((0..STEPS_PER_EPOCH as u64)
                .map(|i| ((epoch as u64 + 1) << 20) + i)
                .collect())
        },
        move |k: u64| Ok(adding(t, BATCH, seed.wrapping_mul(1 << 40) ^ k)?),
    );
    let val: Vec<Batch> = (1..=4u64)
        .map(|k| adding(t, BATCH, seed.wrapping_mul(1 << 40) ^ k))
        .collect::<seq::core::Result<_>>()?;
    let optimizer = OptimizerConfig::adam(args.lr).build(params.named_vars())?;
    let per_epoch = STEPS_PER_EPOCH.min(args.steps);
    let mut tc = TrainerConfig::new(args.steps.div_ceil(per_epoch));
    (tc.seed, tc.quiet, tc.clip_norm) = (seed, true, Some(1.0));
    tc.steps_per_epoch = Some(per_epoch);
    tc.log_dir = Some(args.out.join(format!("{cell}-{t}")));
    let mut trainer = Trainer::new(tc, params, optimizer);
    trainer.add_callback(StopWhenSolved);
    let history = trainer.fit(model, &source, Some(&val))?;
    Ok(history.epochs.len() * per_epoch)
}
