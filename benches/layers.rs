//! The performance issue's other workloads, timed in one run: forward and
//! forward+backward of an Elman RNN, a 2-layer bidirectional LSTM, a long
//! LSTM, a Conv1d stack, a Transformer encoder and causal multi-head
//! self-attention, and one full training step of the sentiment model
//! (BiLSTM and Transformer). `--long-context fused|composed` runs only the
//! long-context row (causal self-attention over 4,096 steps) and prints its
//! time and peak memory: `cargo xtask bench` runs it once per engine, each
//! in its own process. `--only TEXT` runs only the workloads whose name
//! contains TEXT (for profiling one of them), and writes no table.
//! Prints medians, spreads and tokens per second, writes
//! `target/bench/layers.json` (`bench/torch_bench.py` writes the same rows
//! for PyTorch; `cargo xtask bench --torch` shows both).
//!
//! Run with `cargo xtask bench`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use seq::attention::{
    AttnMask, MhaInput, MultiHeadAttention, MultiHeadAttentionConfig, SinusoidalEncoding,
    TransformerEncoder, TransformerLayerConfig,
};
use seq::conv::{Conv1d, Conv1dConfig, Padding};
use seq::core::{
    pool, Activation, Dropout, Embedding, EmbeddingConfig, Engine, Linear, LinearConfig, Mode,
    Module, Params, Seq,
};
use seq::recurrent::topology::last_layer_state;
use seq::recurrent::{Lstm, Recurrent, RecurrentConfig, Rnn};
use seq::train::{loss, Optimizer, OptimizerConfig};

const RUNS: usize = 11;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A timed training step: median, min and max in ms.
type Step = fn() -> Res<[f64; 3]>;

/// Median, min and max of `RUNS` runs, in ms, after warming up for two
/// runs and at least a quarter of a second (as `bench/torch_bench.py`
/// does): the first rows of a run otherwise catch the machine settling.
fn time(mut f: impl FnMut() -> Res<()>) -> Res<[f64; 3]> {
    let start = Instant::now();
    for k in 0.. {
        if k >= 2 && start.elapsed().as_secs_f64() >= 0.25 {
            break;
        }
        f()?;
    }
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        f()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok([ms[RUNS / 2], ms[0], ms[RUNS - 1]])
}

/// A workload: its name, tokens (batch x time) per run, and a run that
/// returns a scalar to differentiate (or to drop, forward only).
struct Workload {
    name: &'static str,
    tokens: usize,
    run: Box<dyn Fn(Mode) -> Res<Tensor>>,
}

fn randn(shape: (usize, usize, usize)) -> Res<Tensor> {
    Ok(Tensor::randn(0f32, 1.0, shape, &Device::Cpu)?)
}

fn recurrent(name: &'static str, layer: Box<dyn Recurrent>, x: Tensor) -> Workload {
    let (b, t, _) = x.dims3().unwrap_or((0, 0, 0));
    let xs = Seq::new(x).ok();
    Workload {
        name,
        tokens: b * t,
        run: Box::new(move |mode| {
            let xs = xs.as_ref().ok_or("bad input")?;
            let (out, _) = layer.forward_with_state(xs, None, mode)?;
            Ok(out.values().sum_all()?)
        }),
    }
}

fn workloads() -> Res<Vec<Workload>> {
    let vb = |p: &Params| p.var_builder(DType::F32, &Device::Cpu);
    let p = Params::new(0);
    let mut w = vec![recurrent(
        "rnn tanh [32,100,64] -> 128",
        Box::new(Rnn::new(
            RecurrentConfig::new(64, 128),
            Activation::Tanh,
            vb(&p).pp("rnn"),
        )?),
        randn((32, 100, 64))?,
    )];
    let bi = RecurrentConfig::new(64, 128)
        .with_layers(2)
        .with_bidirectional(true);
    w.push(recurrent(
        "lstm 2 layers bidirectional [32,100,64] -> 128",
        Box::new(Lstm::new(bi, vb(&p).pp("bilstm"))?),
        randn((32, 100, 64))?,
    ));
    w.push(recurrent(
        "lstm [8,1000,32] -> 64",
        Box::new(Lstm::new(RecurrentConfig::new(32, 64), vb(&p).pp("long"))?),
        randn((8, 1000, 32))?,
    ));

    // Three same-padded convolutions of width 3 with relu, 64 channels.
    let convs = (0..3)
        .map(|i| {
            let c = Conv1dConfig::new(64, 64, 3).with_padding(Padding::Same);
            Conv1d::new(c, vb(&p).pp(format!("conv{i}")))
        })
        .collect::<seq::core::Result<Vec<_>>>()?;
    let x = Seq::new(randn((32, 500, 64))?)?;
    w.push(Workload {
        name: "conv1d stack 3 x (64 -> 64, k3) [32,500,64]",
        tokens: 32 * 500,
        run: Box::new(move |mode| {
            let mut h = x.clone();
            for conv in &convs {
                let y = conv.forward(&h, mode)?;
                h = y.with_values(Activation::Relu.apply(y.values())?)?;
            }
            Ok(h.values().sum_all()?)
        }),
    });

    let layer = TransformerLayerConfig::new(128, 4).with_feedforward(512);
    let encoder = TransformerEncoder::new(layer, 2, false, vb(&p).pp("encoder"))?;
    let x = randn((32, 128, 128))?;
    w.push(Workload {
        name: "transformer encoder 2 layers d128 h4 ff512 [32,128,128]",
        tokens: 32 * 128,
        run: Box::new(move |mode| Ok(encoder.forward(&x, None, None, mode)?.sum_all()?)),
    });

    let mha = MultiHeadAttention::new(MultiHeadAttentionConfig::new(256, 8), vb(&p).pp("mha"))?;
    let x = randn((8, 512, 256))?;
    let causal = AttnMask::causal(512, 0, &Device::Cpu)?;
    w.push(Workload {
        name: "causal self-attention 256 wide, 8 heads [8,512,256]",
        tokens: 8 * 512,
        run: Box::new(move |mode| {
            let y = mha.forward(MhaInput::self_attn(&x).with_attn_mask(&causal), mode)?;
            Ok(y.output.sum_all()?)
        }),
    });
    Ok(w)
}

/// One training step of the sentiment model (embeddings 64, BiLSTM 64,
/// one logit; 64 reviews of 40 words; BCE, backward, AdamW).
fn sentiment_step() -> Res<[f64; 3]> {
    let p = Params::new(0);
    let vb = p.var_builder(DType::F32, &Device::Cpu);
    let embedding = Embedding::new(
        EmbeddingConfig::new(20_000, 64).with_padding_idx(0),
        vb.pp("embedding"),
    )?;
    let config = RecurrentConfig::new(64, 64).with_bidirectional(true);
    let lstm = Lstm::new(config, vb.pp("encoder"))?;
    let head = Linear::new(LinearConfig::new(128, 1), vb.pp("head"))?;
    let ids: Vec<u32> = (0..64 * 40)
        .map(|i| 4 + (i * 7919 % 19_000) as u32)
        .collect();
    let ids = Tensor::from_vec(ids, (64, 40), &Device::Cpu)?;
    train_step(&p, || {
        let xs = embedding.forward(&Seq::from_ids(ids.clone())?, Mode::Train)?;
        let (_, state) = lstm.forward_with_state(&xs, None, Mode::Train)?;
        Ok(head.apply(&last_layer_state(&state, lstm.config())?)?)
    })
}

/// Times one training step on 64 reviews: `logits` `[64, 1]`, BCE against
/// alternating labels, backward, AdamW (lr 1e-3, no weight decay) over `p`.
fn train_step(p: &Params, logits: impl Fn() -> Res<Tensor>) -> Res<[f64; 3]> {
    let labels = Tensor::from_vec(
        (0..64).map(|i| (i % 2) as f32).collect(),
        (64, 1),
        &Device::Cpu,
    )?;
    let mut optim = OptimizerConfig::adamw(1e-3)
        .with_weight_decay(0.0)
        .build(p.named_vars())?;
    time(|| {
        let grads = loss::bce_with_logits(&logits()?, &labels)?.backward()?;
        optim.step(&grads)?;
        Ok(())
    })
}

/// One training step of the sentiment example's `--model transformer`
/// (embeddings 64 with dropout 0.3 and sinusoidal positions, 2 pre-norm
/// layers of 4 heads, ff 128, dropout 0.3, a final norm, the mean over real
/// words, one logit; 64 reviews of 40 words, row i ending in i % 8 padding
/// ids; BCE, backward, AdamW).
fn transformer_sentiment_step() -> Res<[f64; 3]> {
    let p = Params::new(0);
    let vb = p.var_builder(DType::F32, &Device::Cpu);
    let d = 64;
    let embedding = Embedding::new(
        EmbeddingConfig::new(20_000, d).with_padding_idx(0),
        vb.pp("embedding"),
    )?;
    let drop = Dropout::new(0.3, 1)?;
    let positions = SinusoidalEncoding::new(40, d, DType::F32, &Device::Cpu)?;
    let mut layer = TransformerLayerConfig::new(d, 4)
        .with_feedforward(128)
        .with_dropout(0.3, 0);
    layer.norm_first = true;
    let encoder = TransformerEncoder::new(layer, 2, true, vb.pp("encoder"))?;
    let head = Linear::new(LinearConfig::new(d, 1), vb.pp("head"))?;
    let ids: Vec<u32> = (0..64 * 40)
        .map(|i| match (i / 40) % 8 {
            pad if i % 40 >= 40 - pad => 0,
            _ => 4 + (i * 7919 % 19_000) as u32,
        })
        .collect();
    let ids = Tensor::from_vec(ids, (64, 40), &Device::Cpu)?;
    train_step(&p, || {
        let xs = embedding.forward(&Seq::from_ids(ids.clone())?, Mode::Train)?;
        let x = positions.apply(&drop.apply(xs.values(), Mode::Train)?, 0)?;
        let h = encoder.forward(&x, xs.mask(), None, Mode::Train)?;
        Ok(head.apply(&pool::mean_over_time(&h, xs.mask())?)?)
    })
}

/// The process's peak resident memory in MiB (`VmHWM`).
fn peak_rss_mib() -> Res<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}

/// The long-context row alone (peak memory is per process): causal
/// self-attention 256 wide, 8 heads, batch 1, 4,096 steps, forward and
/// backward with `engine`; median of 3 runs after one warm-up, and the
/// peak resident memory, as one JSON line.
fn long_context(engine: Engine) -> Res<()> {
    let p = Params::new(0);
    let config = MultiHeadAttentionConfig::new(256, 8).with_engine(engine);
    let mha = MultiHeadAttention::new(config, p.var_builder(DType::F32, &Device::Cpu))?;
    let x = randn((1, 4096, 256))?;
    let causal = AttnMask::causal(4096, 0, &Device::Cpu)?;
    let run = || -> Res<()> {
        let input = MhaInput::self_attn(&x).with_attn_mask(&causal);
        let y = mha.forward(input, Mode::Train)?.output;
        y.sum_all()?.backward()?;
        Ok(())
    };
    run()?;
    let mut ms = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        run()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let row =
        serde_json::json!({"fwd_bwd_ms": [ms[1], ms[0], ms[2]], "peak_rss_mib": peak_rss_mib()?});
    println!("{row}");
    Ok(())
}

/// The layer benchmarks.
#[derive(clap::Parser)]
struct Args {
    /// Only the long-context row, on this engine.
    #[arg(long, value_parser = ["fused", "composed"])]
    long_context: Option<String>,
    /// Only the workloads whose name contains this text (no training steps).
    #[arg(long)]
    only: Option<String>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Res<()> {
    seq::core::set_flush_denormals(true);
    let args = Args::parse();
    if let Some(engine) = args.long_context {
        let engine = match engine.as_str() {
            "composed" => Engine::Composed,
            _ => Engine::Fused,
        };
        return long_context(engine);
    }
    println!("median (min-max) of {RUNS} runs, ms; tokens/s from forward+backward");
    let mut rows = Vec::new();
    let only = args.only.as_deref();
    for w in workloads()? {
        if only.is_some_and(|only| !w.name.contains(only)) {
            continue;
        }
        let fwd = time(|| (w.run)(Mode::Eval).map(|_| ()))?;
        let fwd_bwd = time(|| Ok((w.run)(Mode::Train)?.backward().map(|_| ())?))?;
        let tokens_per_s = w.tokens as f64 / (fwd_bwd[0] / 1e3);
        println!(
            "{:<58} fwd {:>8.1} ({:.1}-{:.1})  fwd+bwd {:>8.1} ({:.1}-{:.1})  {:>9.0} tokens/s",
            w.name, fwd[0], fwd[1], fwd[2], fwd_bwd[0], fwd_bwd[1], fwd_bwd[2], tokens_per_s
        );
        rows.push(serde_json::json!({
            "workload": w.name, "fwd_ms": fwd, "fwd_bwd_ms": fwd_bwd, "tokens_per_s": tokens_per_s,
        }));
    }
    let steps: [(&str, Step); 2] = [
        (
            "sentiment training step [64,40] BiLSTM 64 + AdamW",
            sentiment_step,
        ),
        (
            "sentiment training step [64,40] Transformer 2 x d64 + AdamW",
            transformer_sentiment_step,
        ),
    ];
    for (name, run) in steps.into_iter().filter(|_| only.is_none()) {
        let step = run()?;
        let tokens_per_s = 64.0 * 40.0 / (step[0] / 1e3);
        println!(
            "{name:<58} step {:>7.1} ({:.1}-{:.1})  {tokens_per_s:>28.0} tokens/s",
            step[0], step[1], step[2]
        );
        rows.push(serde_json::json!({
            "workload": name, "fwd_bwd_ms": step, "tokens_per_s": tokens_per_s,
        }));
    }
    if only.is_some() {
        return Ok(()); // a partial run leaves the last full table alone
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("layers.json"),
        serde_json::to_string_pretty(&rows)? + "\n",
    )?;
    Ok(())
}
