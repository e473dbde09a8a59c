//! Sequence generation (one-to-many): a character-level LSTM language model
//! of Hamlet. Prints validation bits per character next to the unigram
//! entropy (a model that ignores context), then samples text from a prompt
//! at several temperatures, each sampled character fed back as the next
//! input.
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
use seq::core::{Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Module, Params, Rng, Seq};
use seq::data::readers::text::read_corpus;
use seq::data::{Standardize, Tokenizer, VocabConfig};
use seq::recurrent::{Lstm, Recurrent, RecurrentConfig, State};
use seq::train::{OptimizerConfig, Task, Trainer, TrainerConfig};

use common::cli::Cli;
use common::report::write_results;
use common::Error;

const HELP: &str = "A character-level LSTM language model of Hamlet, and samples from it.

usage: cargo run --release --example generate -- [options]

  --text PATH      a UTF-8 text corpus [data/hamlet.txt]; the last 10% validates
  --epochs N       passes over the training text [15]
  --hidden N       LSTM units [256]
  --length N       characters to sample per temperature [300]
  --prompt TEXT    where the samples start [\"HAMLET.\"]
  --seed N         seed of weights, batch order and sampling [0]
  --out DIR        results and curves [runs/generate]
  --smoke          a tiny run in seconds (used by `cargo xtask check`)
  -h, --help       this text";

const STEPS: usize = 100;

struct Args {
    text: PathBuf,
    epochs: usize,
    hidden: usize,
    length: usize,
    prompt: String,
    seed: u64,
    out: PathBuf,
    smoke: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut cli = Cli::parse(HELP)?;
    let args = Args {
        text: cli.get("--text", "data/hamlet.txt".into())?,
        epochs: cli.get("--epochs", 15)?,
        hidden: cli.positive("--hidden", 256)?,
        length: cli.get("--length", 300)?,
        prompt: cli.get("--prompt", "HAMLET.".to_string())?,
        seed: cli.get("--seed", 0)?,
        out: cli.get("--out", "runs/generate".into())?,
        smoke: cli.switch("--smoke")?,
    };
    cli.finish()?;
    if args.prompt.is_empty() {
        return Err("--prompt must not be empty".into());
    }
    Ok(args)
}

/// Characters `[batch, 100]` and the next character of each `[batch, 100]`.
#[derive(Clone)]
struct Batch {
    input: Tensor,
    target: Tensor,
}

/// Embedding, LSTM, and logits over the characters at every step.
struct CharModel {
    embedding: Embedding,
    lstm: Lstm,
    head: Linear,
}

impl CharModel {
    fn new(vocab: usize, hidden: usize, vb: VarBuilder) -> seq::core::Result<Self> {
        Ok(CharModel {
            embedding: Embedding::new(EmbeddingConfig::new(vocab, 32), vb.pp("embedding"))?,
            lstm: Lstm::new(RecurrentConfig::new(32, hidden), vb.pp("lstm"))?,
            head: Linear::new(LinearConfig::new(hidden, vocab), vb.pp("head"))?,
        })
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
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        seq::train::loss::cross_entropy(&self.step(&b.input, None, mode)?.0, &b.target, None, 0.0)
    }

    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let mut nats = 0.0;
        for b in batches {
            nats += self.loss(b, Mode::Eval)?.to_scalar::<f32>()? as f64;
        }
        Ok(vec![(
            "bits_per_char".into(),
            nats / batches.len() as f64 / std::f64::consts::LN_2,
        )])
    }
}

fn main() {
    common::main("generate", || run(parse_args()?))
}

/// Consecutive 101-character pieces of `ids` as batches of 32.
fn batches(ids: &[u32], device: &Device) -> Result<Vec<Batch>, Error> {
    let pieces: Vec<&[u32]> = ids.chunks_exact(STEPS + 1).collect();
    pieces
        .chunks(32)
        .map(|chunk| {
            let input: Vec<u32> = chunk
                .iter()
                .flat_map(|p| p[..STEPS].iter().copied())
                .collect();
            let target: Vec<u32> = chunk.iter().flat_map(|p| p[1..].iter().copied()).collect();
            Ok(Batch {
                input: Tensor::from_vec(input, (chunk.len(), STEPS), device)?,
                target: Tensor::from_vec(target, (chunk.len(), STEPS), device)?,
            })
        })
        .collect()
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
    let device = seq::core::best_device();
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
    let (train, val) = (batches(train_ids, &device)?, batches(val_ids, &device)?);
    if train.is_empty() || val.is_empty() {
        return Err(format!(
            "{}: too short for pieces of {} characters",
            args.text.display(),
            STEPS + 1
        )
        .into());
    }
    let vocab = tokenizer.vocab_size();
    println!(
        "{} characters, {} distinct; {} training and {} validation batches",
        ids.len(),
        vocab - 4,
        train.len(),
        val.len()
    );

    let params = Params::new(args.seed);
    let model = CharModel::new(vocab, args.hidden, params.var_builder(DType::F32, &device))?;
    let optimizer = OptimizerConfig::adam(3e-3).build(params.named_vars())?;
    let out = if args.smoke {
        args.out.join("smoke")
    } else {
        args.out.clone()
    };
    let mut tc = TrainerConfig::new(if args.smoke { 1 } else { args.epochs });
    (tc.seed, tc.clip_norm, tc.log_dir) = (args.seed, Some(5.0), Some(out.clone()));
    let history = Trainer::new(tc, params.clone(), optimizer).fit(&model, &train, Some(&val))?;
    let bits = model.metrics(&val)?[0].1;
    let unigram = unigram_bits(train_ids, val_ids, vocab);
    let seconds = start.elapsed().as_secs_f64();
    println!("validation {bits:.3} bits per character (unigram entropy {unigram:.3}) after {} epochs in {seconds:.1} s", history.epochs.len());

    let mut rng = Rng::new(args.seed);
    let mut samples = Vec::new();
    for temperature in [0.5, 0.8, 1.0] {
        let sample = sample(
            &model,
            &tokenizer,
            &args.prompt,
            args.length,
            temperature,
            &mut rng,
            &device,
        )?;
        println!(
            "\n--- temperature {temperature} ---\n{}{sample}",
            args.prompt
        );
        samples.push(serde_json::json!({
            "temperature": temperature,
            "text": format!("{}{sample}", args.prompt),
        }));
    }
    params.save(out.join("model.safetensors"))?;
    tokenizer.save(&out.join("tokenizer.json"))?;
    write_results(
        &out,
        &serde_json::json!({
            "example": "generate",
            "val_bits_per_char": bits,
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
