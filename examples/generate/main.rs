//! Sequence generation (one-to-many): a character-level LSTM language model
//! of Hamlet. Prints validation bits per character next to the unigram
//! entropy (a model that ignores context), then samples text from a prompt
//! at several temperatures, each sampled character fed back as the next
//! input.
//!
//! The text is read as 32 parallel streams cut into consecutive chunks of
//! 100 characters (at an offset that changes every epoch). Training is
//! stateful by default: each chunk starts from the state the previous chunk
//! of its stream ended in, detached, so the model sees context beyond 100
//! characters while gradients flow back through 100 steps only (truncated
//! backpropagation through time); `--stateless` starts every chunk afresh.
//!
//! ```text
//! cargo run --release --example generate
//! cargo run --release --example generate -- --prompt "To be" --length 400
//! ```

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use clap::Parser;
use seq::core::{Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Module, Params, Rng, Seq};
use seq::data::readers::text::read_corpus;
use seq::data::{Standardize, Tokenizer, VocabConfig};
use seq::recurrent::{Lstm, Recurrent, RecurrentConfig, State};
use seq::train::{OptimizerConfig, Planned, Task, Trainer, TrainerConfig};

use common::cli::positive;
use common::report::{write_results, write_text};
use common::Error;

const STEPS: usize = 100;

/// A character-level LSTM language model of Hamlet, and samples from it.
#[derive(Parser)]
struct Args {
    /// A UTF-8 text corpus; the last 10% validates.
    #[arg(long, default_value = "data/hamlet.txt")]
    text: PathBuf,
    /// Passes over the training text.
    #[arg(long, default_value_t = 15, value_parser = positive)]
    epochs: usize,
    /// LSTM units.
    #[arg(long, default_value_t = 256, value_parser = positive)]
    hidden: usize,
    /// Characters to sample per temperature.
    #[arg(long, default_value_t = 300)]
    length: usize,
    /// Where the samples start (not empty).
    #[arg(long, default_value = "HAMLET.", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    prompt: String,
    /// Seed of weights, batch order and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start every 100-character chunk from a zero state (no truncated BPTT).
    #[arg(long)]
    stateless: bool,
    /// Results and curves.
    #[arg(long, default_value = "runs/generate")]
    out: PathBuf,
    /// Sample from --prompt with the model saved in --from (with --seed,
    /// the samples training printed), then exit.
    #[arg(long)]
    sample: bool,
    /// The folder a training run saved [default: OUT, OUT/smoke with --smoke].
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// A tiny run in seconds (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
    /// Where to run: auto (a GPU when this build has one), cpu, cuda[:N]
    /// or metal[:N].
    #[arg(long, default_value = "auto", value_parser = common::cli::device)]
    device: candle_core::Device,
}

/// Characters `[streams, 100]` and the next character of each, and whether
/// this is the first chunk of its streams (the carried state starts anew).
#[derive(Clone)]
struct Batch {
    input: Tensor,
    target: Tensor,
    first: bool,
}

/// The parallel streams the text is read as (at most).
const STREAMS: usize = 32;

/// Embedding, LSTM, and logits over the characters at every step; in
/// training, the state the last chunk ended in (when stateful).
struct CharModel {
    embedding: Embedding,
    lstm: Lstm,
    head: Linear,
    stateful: bool,
    carried: std::cell::RefCell<Option<State>>,
}

impl CharModel {
    fn new(vocab: usize, hidden: usize, vb: VarBuilder) -> seq::core::Result<Self> {
        Ok(CharModel {
            embedding: Embedding::new(EmbeddingConfig::new(vocab, 32), vb.pp("embedding"))?,
            lstm: Lstm::new(RecurrentConfig::new(32, hidden), vb.pp("lstm"))?,
            head: Linear::new(LinearConfig::new(hidden, vocab), vb.pp("head"))?,
            stateful: true,
            carried: std::cell::RefCell::new(None),
        })
    }

    /// The loss of a chunk starting from `state`, and the state it ends in,
    /// detached (the truncation of backpropagation through time).
    fn chunk_loss(
        &self,
        b: &Batch,
        state: Option<&State>,
        mode: Mode,
    ) -> seq::core::Result<(Tensor, State)> {
        let state = state.filter(|_| self.stateful && !b.first);
        let (logits, last) = self.step(&b.input, state, mode)?;
        let loss = seq::train::loss::cross_entropy(&logits, &b.target, None, 0.0)?;
        Ok((loss, last.detach()))
    }

    /// Logits `[batch, time, vocab]` and the state after the last step.
    fn step(
        &self,
        ids: &Tensor,
        state: Option<&State>,
        mode: Mode,
    ) -> seq::core::Result<(Tensor, State)> {
        let xs = self.embedding.forward(&Seq::from_ids(ids.clone())?, mode)?;
        let (h, state) = self.lstm.forward_with_state(&xs, state, mode)?;
        Ok((self.head.apply(h.values())?, state))
    }
}

impl Task<Batch> for CharModel {
    /// Training batches come in order, stream by stream: each starts from
    /// the state the one before ended in.
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        let carried = self.carried.borrow_mut().take();
        let (loss, last) = self.chunk_loss(b, carried.as_ref(), mode)?;
        *self.carried.borrow_mut() = Some(last);
        Ok(loss)
    }

    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut nats, mut state) = (0.0, None);
        for b in batches {
            let (loss, last) = self.chunk_loss(b, state.as_ref(), Mode::Eval)?;
            nats += loss.to_scalar::<f32>()? as f64;
            state = Some(last);
        }
        Ok(vec![(
            "bits_per_char".into(),
            nats / batches.len() as f64 / std::f64::consts::LN_2,
        )])
    }
}

fn main() {
    common::main("generate", || run(Args::parse()))
}

/// How many streams `ids` is read as: [`STREAMS`], fewer for a text too
/// short to give each two chunks.
fn streams(ids: &[u32]) -> usize {
    STREAMS.min(ids.len() / (2 * STEPS + 1)).max(1)
}

/// `ids` as [`streams`] equal streams read from `offset` on: the number
/// of consecutive chunks of [`STEPS`] characters (and their next ones)
/// each stream holds.
fn chunks(ids: &[u32], offset: usize) -> usize {
    (ids.len() / streams(ids)).saturating_sub(offset + 1) / STEPS
}

/// Chunk `k` of every stream: characters `[streams, STEPS]`, the next ones.
fn chunk(ids: &[u32], offset: usize, k: usize, device: &Device) -> seq::core::Result<Batch> {
    let n = streams(ids);
    let len = ids.len() / n;
    let at = |s: usize| s * len + offset + k * STEPS;
    let input: Vec<u32> = (0..n)
        .flat_map(|s| ids[at(s)..at(s) + STEPS].iter().copied())
        .collect();
    let target: Vec<u32> = (0..n)
        .flat_map(|s| ids[at(s) + 1..at(s) + STEPS + 1].iter().copied())
        .collect();
    Ok(Batch {
        input: Tensor::from_vec(input, (n, STEPS), device)?,
        target: Tensor::from_vec(target, (n, STEPS), device)?,
        first: k == 0,
    })
}

/// Cross-entropy in bits of `ids` under the character frequencies of
/// `train` (add-one smoothed): what a model that ignores context achieves.
fn unigram_bits(train: &[u32], ids: &[u32], vocab: usize) -> f64 {
    let mut counts = vec![1.0; vocab];
    train.iter().for_each(|&i| counts[i as usize] += 1.0);
    let total: f64 = counts.iter().sum();
    ids.iter()
        .map(|&i| -(counts[i as usize] / total).log2())
        .sum::<f64>()
        / ids.len() as f64
}

fn run(args: Args) -> Result<(), Error> {
    let start = Instant::now();
    let device = args.device.clone();
    println!("device: {}", seq::core::device_name(&device));
    let out = if args.smoke {
        args.out.join("smoke")
    } else {
        args.out.clone()
    };
    if args.sample {
        return sample_saved(&args, args.from.as_deref().unwrap_or(&out), &device);
    }
    let mut text = read_corpus(&args.text)?;
    if args.smoke {
        text = text.chars().take(20_000).collect();
    }
    let tokenizer = Tokenizer::char_level(
        std::iter::once(text.as_str()),
        VocabConfig {
            standardize: Standardize::None,
            ..VocabConfig::default()
        },
    )?;
    let ids = tokenizer.encode(&text, false)?;
    let cut = ids.len() * 9 / 10;
    let (train_ids, val_ids) = (&ids[..cut], &ids[cut..]);
    // Training reads the streams from an offset drawn every epoch, in order.
    let train = Planned::new(
        |epoch: usize, seed: u64| {
            let offset = Rng::new(seed ^ epoch as u64).below(STEPS);
            Ok((0..chunks(train_ids, offset))
                .map(|k| (offset, k))
                .collect())
        },
        |(offset, k): (usize, usize)| Ok(chunk(train_ids, offset, k, &device)?),
    );
    let val = (0..chunks(val_ids, 0))
        .map(|k| chunk(val_ids, 0, k, &device))
        .collect::<seq::core::Result<Vec<_>>>()?;
    let n_train = chunks(train_ids, STEPS);
    if n_train == 0 || val.is_empty() {
        return Err(format!(
            "{}: too short for pieces of {} characters",
            args.text.display(),
            STEPS + 1
        )
        .into());
    }
    let vocab = tokenizer.vocab_size();
    println!(
        "{} characters, {} distinct; {} streams, about {n_train} training and {} validation chunks of {STEPS} each; {}",
        ids.len(),
        vocab - 4,
        streams(train_ids),
        val.len(),
        match args.stateless {
            true => "each chunk from a zero state",
            false => "truncated BPTT: each chunk from the state the one before ended in",
        }
    );

    let params = Params::new(args.seed);
    let mut model = CharModel::new(vocab, args.hidden, params.var_builder(DType::F32, &device))?;
    model.stateful = !args.stateless;
    let optimizer = OptimizerConfig::adam(3e-3).build(params.named_vars())?;
    let mut tc = TrainerConfig::new(if args.smoke { 1 } else { args.epochs });
    (tc.seed, tc.clip_norm, tc.log_dir) = (args.seed, Some(5.0), Some(out.clone()));
    let history = Trainer::new(tc, params.clone(), optimizer).fit(&model, &train, Some(&val))?;
    let bits = model.metrics(&val)?[0].1;
    let unigram = unigram_bits(train_ids, val_ids, vocab);
    let seconds = start.elapsed().as_secs_f64();
    println!("validation {bits:.3} bits per character (unigram entropy {unigram:.3}) after {} epochs in {seconds:.1} s", history.epochs.len());

    let samples = samples(&model, &tokenizer, &args, &device)?;
    params.save(out.join("model.safetensors"))?;
    tokenizer.save(&out.join("tokenizer.json"))?;
    let config = serde_json::json!({ "hidden": args.hidden });
    write_text(&out.join("config.json"), &config.to_string())?;
    write_results(
        &out,
        &serde_json::json!({
            "example": "generate",
            "val_bits_per_char": bits,
            "truncated_bptt": !args.stateless,
            "unigram_bits": unigram,
            "epochs": history.epochs.len(),
            "seconds": seconds,
            "samples": samples,
        }),
    )?;
    println!(
        "\nsaved the model, tokenizer, results and training curves in {}",
        out.display()
    );
    Ok(())
}

/// Samples from `--prompt` at temperatures 0.5, 0.8 and 1.0, drawn with
/// `--seed`, printed and returned for the results.
fn samples(
    model: &CharModel,
    tokenizer: &Tokenizer,
    args: &Args,
    device: &Device,
) -> Result<Vec<serde_json::Value>, Error> {
    let mut rng = Rng::new(args.seed);
    let mut samples = Vec::new();
    for temperature in [0.5, 0.8, 1.0] {
        let text = sample(
            model,
            tokenizer,
            &args.prompt,
            args.length,
            temperature,
            &mut rng,
            device,
        )?;
        println!("\n--- temperature {temperature} ---\n{}{text}", args.prompt);
        samples.push(serde_json::json!({
            "temperature": temperature,
            "text": format!("{}{text}", args.prompt),
        }));
    }
    Ok(samples)
}

/// `--sample`: the model saved in `dir` (`config.json`,
/// `tokenizer.json`, `model.safetensors`) samples from `--prompt`.
fn sample_saved(args: &Args, dir: &std::path::Path, device: &Device) -> Result<(), Error> {
    let tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"))
        .map_err(|e| format!("{e} (train first, or point --from at a run)"))?;
    let path = dir.join("config.json");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let hidden = config["hidden"]
        .as_u64()
        .ok_or_else(|| format!("{}: no `hidden`", path.display()))? as usize;
    let params = Params::new(0);
    let model = CharModel::new(
        tokenizer.vocab_size(),
        hidden,
        params.var_builder(DType::F32, device),
    )?;
    params.load(dir.join("model.safetensors"))?;
    samples(&model, &tokenizer, args, device)?;
    Ok(())
}

/// One-to-many: the prompt sets the state, then each character is drawn
/// from `softmax(logits / temperature)` and fed back; one step each.
fn sample(
    model: &CharModel,
    tokenizer: &Tokenizer,
    prompt: &str,
    length: usize,
    temperature: f64,
    rng: &mut Rng,
    device: &Device,
) -> Result<String, Error> {
    let prompt_ids = tokenizer.encode(prompt, false)?;
    let ids = Tensor::from_vec(prompt_ids.clone(), (1, prompt_ids.len()), device)?;
    let (logits, mut state) = model.step(&ids, None, Mode::Eval)?;
    let mut last = logits.squeeze(0)?.get(prompt_ids.len() - 1)?;
    let mut out = Vec::with_capacity(length);
    for _ in 0..length {
        let probs: Vec<f32> = seq::core::softmax(&(last.to_dtype(DType::F64)? / temperature)?)?
            .to_dtype(DType::F32)?
            .to_vec1()?;
        let u = rng.uniform() as f32;
        let mut acc = 0.0;
        let next = probs.iter().position(|p| {
            acc += p;
            acc >= u
        });
        let next = next.unwrap_or(probs.len() - 1) as u32;
        out.push(next);
        let (logits, s) = model.step(
            &Tensor::from_vec(vec![next], (1, 1), device)?,
            Some(&state),
            Mode::Eval,
        )?;
        state = s;
        last = logits.squeeze(0)?.squeeze(0)?;
    }
    Ok(tokenizer.decode(&out)?)
}
