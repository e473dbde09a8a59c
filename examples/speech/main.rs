//! Speech recognition with CTC: spoken digit strings ("four zero eight
//! one") transcribed letter by letter from log-mel features, by a
//! convolution and a bidirectional GRU trained with the CTC loss (Graves et
//! al., 2006), decoded greedily and by prefix beam search. The speech comes
//! from the espeak-ng synthesiser in 43 voices and 7 accents at varied
//! speeds, pitches and word gaps, with white noise at 10-30 dB SNR; the test
//! set's 11 voices are never heard in training. The baseline is the same
//! front end with 130 ms of convolutional context instead of the GRU.
//!
//! ```text
//! cargo run --release --example speech                       # both models
//! cargo run --release --example speech -- --model gru --epochs 40
//! cargo run --release --example speech -- --data DIR         # recorded speech: DIR/train.tsv, DIR/test.tsv
//! ```

#[path = "../common/mod.rs"]
mod common;
mod model;
mod synth;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use seq::core::{Mode, Params, Rng, Seq};
use seq::data::audio::{read_wav, LogMel, LogMelConfig};
use seq::train::ctc;
use seq::train::metrics::edit::{char_error_rate, word_error_rate};
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Trainer, TrainerConfig};

use common::cli::positive;
use common::report::{write_results, write_text};
use common::Error;
use model::{Batch, Recogniser};

/// Transcribe spoken digit strings with a CTC-trained GRU.
#[derive(Parser)]
struct Args {
    /// Corpus folder: train.tsv and test.tsv (columns `file`, a WAV path
    /// relative to the folder, and `text`) and the files they name;
    /// synthesised with espeak-ng when missing.
    #[arg(long, default_value = "data/generated/spoken_digits")]
    data: PathBuf,
    /// Training utterances to synthesise.
    #[arg(long, default_value_t = 4000, value_parser = positive)]
    train: usize,
    /// Test utterances to synthesise (held-out voices).
    #[arg(long, default_value_t = 500, value_parser = positive)]
    test: usize,
    /// gru, conv (the baseline) or both.
    #[arg(long, default_value = "both", value_parser = ["gru", "conv", "both"])]
    model: String,
    /// Most epochs (early stopping on the validation CER).
    #[arg(long, default_value_t = 40, value_parser = positive)]
    epochs: usize,
    /// GRU width per direction.
    #[arg(long, default_value_t = 128, value_parser = positive)]
    hidden: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Prefix beam search width.
    #[arg(long, default_value_t = 8, value_parser = positive)]
    beam: usize,
    /// Seed of the synthesis, the noise and the model.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Results, transcripts and curves.
    #[arg(long, default_value = "runs/speech")]
    out: PathBuf,
    /// A tiny run in seconds (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
}

impl Args {
    /// The models to train, the baseline first.
    fn models(&self) -> Vec<&str> {
        match self.model.as_str() {
            "both" => vec!["conv", "gru"],
            one => vec![one],
        }
    }
}

/// The options, with `--smoke`'s tiny sizes.
fn parse_args() -> Args {
    let mut args = Args::parse();
    if args.smoke {
        args.data = args.data.with_file_name("spoken_digits_smoke");
        (args.train, args.test, args.epochs, args.hidden) = (48, 16, 1, 16);
        args.out = args.out.join("smoke");
    }
    args
}

/// The characters of the training transcripts, ids from 1 (0 is the blank).
fn alphabet(texts: &[&str]) -> Vec<char> {
    let mut chars: Vec<char> = texts.iter().flat_map(|t| t.chars()).collect();
    chars.sort_unstable();
    chars.dedup();
    chars
}

/// Log-mel frames of each file, noisy and standardised per band.
struct Features {
    mel: LogMel,
    rng: Rng,
}

impl Features {
    /// Features for audio at the rate of `first` (every file must share it).
    fn new(first: &std::path::Path, seed: u64) -> Result<Self, Error> {
        let rate = read_wav(first)?.sample_rate;
        Ok(Features {
            mel: LogMel::new(LogMelConfig::new(rate))?,
            rng: Rng::new(seed),
        })
    }

    /// `[frames * n_mels]`: white noise at a signal-to-noise ratio drawn
    /// from 10-30 dB added, then each band standardised over the utterance.
    fn of(&mut self, file: &std::path::Path) -> Result<Vec<f32>, Error> {
        let mut audio = read_wav(file)?;
        let rate = self.mel.config().sample_rate;
        if audio.sample_rate != rate {
            return Err(format!(
                "{}: {} Hz, the corpus's first file has {rate} Hz",
                file.display(),
                audio.sample_rate
            )
            .into());
        }
        let power = audio.samples.iter().map(|s| f64::from(s * s)).sum::<f64>()
            / audio.samples.len().max(1) as f64;
        let snr_db = self.rng.uniform_in(10.0, 30.0);
        let sigma = (power / 10f64.powf(snr_db / 10.0)).sqrt();
        for s in &mut audio.samples {
            *s += (sigma * self.rng.normal()) as f32;
        }
        let mut x = self.mel.compute(&audio.samples);
        let n = self.mel.config().n_mels;
        let frames = x.len() / n;
        for band in 0..n {
            let values = || (0..frames).map(|t| x[t * n + band]);
            let mean = values().sum::<f32>() / frames as f32;
            let var = values().map(|v| (v - mean).powi(2)).sum::<f32>() / frames as f32;
            let scale = 1.0 / (var.sqrt() + 1e-5);
            for t in 0..frames {
                x[t * n + band] = (x[t * n + band] - mean) * scale;
            }
        }
        Ok(x)
    }
}

/// An utterance ready to batch: frames `[T * n_mels]` and character ids.
struct Example {
    frames: Vec<f32>,
    labels: Vec<u32>,
    text: String,
}

/// Batches of 32, sorted by length so that little is padding.
fn batches(examples: &[&Example], n_mels: usize) -> seq::core::Result<Vec<Batch>> {
    let mut order: Vec<&Example> = examples.to_vec();
    order.sort_by_key(|e| e.frames.len());
    order
        .chunks(32)
        .map(|chunk| {
            let lengths: Vec<usize> = chunk.iter().map(|e| e.frames.len() / n_mels).collect();
            let t = lengths.iter().copied().max().unwrap_or(1);
            let mut x = vec![0f32; chunk.len() * t * n_mels];
            for (b, e) in chunk.iter().enumerate() {
                x[b * t * n_mels..][..e.frames.len()].copy_from_slice(&e.frames);
            }
            let xs = Seq::new(Tensor::from_vec(x, (chunk.len(), t, n_mels), &Device::Cpu)?)?
                .with_lengths(&lengths)?;
            Ok(Batch {
                xs,
                labels: chunk.iter().map(|e| e.labels.clone()).collect(),
            })
        })
        .collect()
}

fn main() {
    common::main("speech", || run(parse_args()))
}

fn run(args: Args) -> Result<(), Error> {
    let start = Instant::now();
    let train = synth::corpus(&args.data, "train", args.train, args.seed)?;
    let test = synth::corpus(&args.data, "test", args.test, args.seed)?;
    let texts: Vec<&str> = train.iter().map(|u| u.text.as_str()).collect();
    let chars = alphabet(&texts);
    let ids = |text: &str, file: &std::path::Path| -> Result<Vec<u32>, Error> {
        text.chars()
            .map(|c| match chars.binary_search(&c) {
                Ok(i) => Ok(i as u32 + 1),
                Err(_) => Err(format!(
                    "{}: {c:?} is not in the training transcripts",
                    file.display()
                )
                .into()),
            })
            .collect()
    };
    let first = train.first().ok_or("the training manifest is empty")?;
    let mut features = Features::new(&first.file, args.seed)?;
    let n_mels = features.mel.config().n_mels;
    let mut load = |set: &[synth::Utterance]| -> Result<Vec<Example>, Error> {
        set.iter()
            .map(|u| {
                Ok(Example {
                    frames: features.of(&u.file)?,
                    labels: ids(&u.text, &u.file)?,
                    text: u.text.clone(),
                })
            })
            .collect()
    };
    let (train, test) = (load(&train)?, load(&test)?);
    println!(
        "{} training and {} test utterances, {} characters, features in {:.1} s",
        train.len(),
        test.len(),
        chars.len(),
        start.elapsed().as_secs_f64()
    );
    // A tenth of the training utterances (training voices) for validation.
    let cut = train.len() - (train.len() / 10).max(1);
    let fit_set: Vec<&Example> = train[..cut].iter().collect();
    let val_set: Vec<&Example> = train[cut..].iter().collect();
    let (fit, val) = (batches(&fit_set, n_mels)?, batches(&val_set, n_mels)?);
    let test_refs: Vec<&Example> = test.iter().collect();
    let test_b = batches(&test_refs, n_mels)?;
    // The batches sort the test set by length: the references in that order.
    let mut sorted = test_refs.clone();
    sorted.sort_by_key(|e| e.frames.len());
    let references: Vec<&str> = sorted.iter().map(|e| e.text.as_str()).collect();

    let spell = |ids: &[u32]| -> String { ids.iter().map(|&i| chars[i as usize - 1]).collect() };
    let mut rows = Vec::new();
    println!("| model | parameters | test CER greedy | beam {} | test WER greedy | beam {} | epochs | time |", args.beam, args.beam);
    println!("|---|---|---|---|---|---|---|---|");
    for name in args.models() {
        let t0 = Instant::now();
        let params = Params::new(args.seed);
        let model = Recogniser::new(
            name,
            n_mels,
            args.hidden,
            chars.len() + 1,
            0.1,
            params.var_builder(DType::F32, &Device::Cpu),
        )?;
        let optimizer = OptimizerConfig::adamw(args.lr).build(params.named_vars())?;
        let mut tc = TrainerConfig::new(args.epochs);
        (tc.seed, tc.quiet, tc.clip_norm) = (args.seed, true, Some(5.0));
        tc.early_stopping = Some(EarlyStopping::new("val_cer", Goal::Min, 5));
        tc.log_dir = Some(args.out.join(name));
        let history = Trainer::new(tc, params.clone(), optimizer).fit(&model, &fit, Some(&val))?;
        let (mut greedy, mut beam) = (Vec::new(), Vec::new());
        for b in &test_b {
            let (lp, lengths) = model.log_probs(&b.xs, Mode::Eval)?;
            greedy.extend(ctc::greedy(&lp, &lengths, 0)?.iter().map(|l| spell(l)));
            beam.extend(
                ctc::beam(&lp, &lengths, 0, args.beam)?
                    .iter()
                    .map(|l| spell(l)),
            );
        }
        let g: Vec<&str> = greedy.iter().map(String::as_str).collect();
        let b: Vec<&str> = beam.iter().map(String::as_str).collect();
        let cer = (
            char_error_rate(&references, &g)?,
            char_error_rate(&references, &b)?,
        );
        let wer = (
            word_error_rate(&references, &g)?,
            word_error_rate(&references, &b)?,
        );
        let secs = t0.elapsed().as_secs_f64();
        let epochs = history.epochs.len();
        println!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {epochs} | {secs:.0} s |",
            params.num_params(),
            cer.0,
            cer.1,
            wer.0,
            wer.1
        );
        let mut samples = String::from("reference\tgreedy\tbeam\n");
        for ((r, g), b) in references.iter().zip(&greedy).zip(&beam) {
            samples += &format!("{r}\t{g}\t{b}\n");
        }
        write_text(&args.out.join(name).join("transcripts.tsv"), &samples)?;
        params.save(args.out.join(name).join("model.safetensors"))?;
        rows.push(serde_json::json!({
            "model": name,
            "parameters": params.num_params(),
            "test_cer_greedy": cer.0,
            "test_cer_beam": cer.1,
            "test_wer_greedy": wer.0,
            "test_wer_beam": wer.1,
            "beam_width": args.beam,
            "epochs": epochs,
            "seconds": secs,
        }));
    }
    write_results(
        &args.out,
        &serde_json::json!({
            "example": "speech",
            "data": args.data.display().to_string(),
            "train_utterances": fit_set.len(),
            "validation_utterances": val_set.len(),
            "test_utterances": test.len(),
            "models": rows,
        }),
    )?;
    println!(
        "results, transcripts and training curves in {}",
        args.out.display()
    );
    Ok(())
}
