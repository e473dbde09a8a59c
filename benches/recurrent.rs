//! Recurrent layers against candle-nn's, in one run: forward and
//! forward+backward of seq's `Lstm` and `Gru` and candle-nn's `lstm` and
//! `gru` on the same input (batch 32, 100 steps, input 64, hidden 128).
//! Prints medians and ratios and writes `target/bench/recurrent.json`.
//!
//! Run with `cargo xtask bench`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::{GRUConfig, LSTMConfig, RNN};
use seq::core::{Mode, Params, Seq};
use seq::recurrent::{Gru, Lstm, Recurrent, RecurrentConfig};

const BATCH: usize = 32;
const TIME: usize = 100;
const INPUT: usize = 64;
const HIDDEN: usize = 128;
const RUNS: usize = 15;

/// Median, min and max of `RUNS` timed runs, in ms, after warming up for
/// two runs and at least a quarter of a second (as the other benches do).
fn time(mut f: impl FnMut() -> candle_core::Result<()>) -> (f64, f64, f64) {
    let start = Instant::now();
    for k in 0.. {
        if k >= 2 && start.elapsed().as_secs_f64() >= 0.25 {
            break;
        }
        f().expect("warm-up run");
    }
    let mut ms: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f().expect("timed run");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[RUNS / 2], ms[0], ms[RUNS - 1])
}

fn seq_layer(kind: &str, p: &Params) -> Box<dyn Recurrent> {
    let cfg = RecurrentConfig::new(INPUT, HIDDEN);
    let vb = p.var_builder(DType::F32, &Device::Cpu);
    match kind {
        "lstm" => Box::new(Lstm::new(cfg, vb).unwrap()),
        _ => Box::new(Gru::new(cfg, vb).unwrap()),
    }
}

/// candle-nn's layer: the per-step states stacked to `[batch, time, hidden]`.
fn candle_forward(kind: &str, p: &Params, x: &Tensor) -> candle_core::Result<Tensor> {
    let vb = p.var_builder(DType::F32, &Device::Cpu);
    match kind {
        "lstm" => {
            let l = candle_nn::lstm(INPUT, HIDDEN, LSTMConfig::default(), vb)?;
            let hs: Vec<Tensor> = l.seq(x)?.into_iter().map(|s| s.h).collect();
            Tensor::stack(&hs, 1)
        }
        _ => {
            let g = candle_nn::gru(INPUT, HIDDEN, GRUConfig::default(), vb)?;
            let hs: Vec<Tensor> = g.seq(x)?.into_iter().map(|s| s.h).collect();
            Tensor::stack(&hs, 1)
        }
    }
}

fn main() {
    let x = Tensor::randn(0f32, 1.0, (BATCH, TIME, INPUT), &Device::Cpu).unwrap();
    let xs = Seq::new(x.clone()).unwrap();
    let mut rows = Vec::new();
    println!("batch {BATCH}, {TIME} steps, input {INPUT}, hidden {HIDDEN}; median (min-max) of {RUNS} runs, ms");
    for kind in ["lstm", "gru"] {
        let ours = Params::new(0);
        let layer = seq_layer(kind, &ours);
        let theirs = Params::new(0);
        candle_forward(kind, &theirs, &x).unwrap();
        let seq_f = time(|| {
            layer
                .forward_with_state(&xs, None, Mode::Eval)
                .map(|_| ())
                .map_err(candle_core::Error::wrap)
        });
        let seq_fb = time(|| {
            let (out, _) = layer
                .forward_with_state(&xs, None, Mode::Train)
                .map_err(candle_core::Error::wrap)?;
            out.values().sum_all()?.backward().map(|_| ())
        });
        let cn_f = time(|| candle_forward(kind, &theirs, &x).map(|_| ()));
        let cn_fb = time(|| {
            candle_forward(kind, &theirs, &x)?
                .sum_all()?
                .backward()
                .map(|_| ())
        });
        for (what, s, c) in [("fwd", seq_f, cn_f), ("fwd+bwd", seq_fb, cn_fb)] {
            println!(
                "{kind:<5} {what:<8} seq {:>7.1} ({:.1}-{:.1})   candle-nn {:>7.1} ({:.1}-{:.1})   seq/candle-nn {:.2}",
                s.0, s.1, s.2, c.0, c.1, c.2, s.0 / c.0
            );
        }
        let ms = |t: (f64, f64, f64)| [t.0, t.1, t.2];
        rows.push(serde_json::json!({
            "workload": format!("{kind} [{BATCH},{TIME},{INPUT}] -> {HIDDEN}"),
            "fwd_ms": ms(seq_f),
            "fwd_bwd_ms": ms(seq_fb),
            "candle_nn_fwd_ms": ms(cn_f),
            "candle_nn_fwd_bwd_ms": ms(cn_fb),
            "tokens_per_s": (BATCH * TIME) as f64 / (seq_fb.0 / 1e3),
        }));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let json = serde_json::to_string_pretty(&rows).unwrap() + "\n";
    std::fs::write(dir.join("recurrent.json"), json).unwrap();
}
