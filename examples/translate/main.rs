//! Translation (many-to-many, unequal lengths), English to Spanish: the
//! Transformer encoder-decoder and GRU encoder-decoders (without attention,
//! with Bahdanau's additive or Luong's multiplicative attention) on BPE
//! pieces, greedy and beam decoding, corpus BLEU as sacreBLEU computes it,
//! sample translations and an attention heatmap.
//!
//! ```text
//! cargo run --release --example translate
//! cargo run --release --example translate -- --pairs ../shared/data/eng-spa.tsv
//! cargo run --release --example translate -- --help
//! ```

#[path = "../common/mod.rs"]
mod common;
mod heatmap;
mod model;
mod pairs;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device};
use clap::Parser;
use seq::core::Params;
use seq::data::{Standardize, Tokenizer, VocabConfig};
use seq::train::metrics::bleu::corpus_bleu;
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Schedule, Trainer, TrainerConfig};

use common::cli::{at_least, positive, probability};
use common::report::{write_results, write_text};
use common::Error;
use model::{pair_batches, Kind, Sizes, Specials, Translator};
use pairs::Pair;

/// Token ids of several texts.
type Ids = Vec<Vec<u32>>;

/// English to Spanish translation: Transformer and GRU encoder-decoders.
#[derive(Parser)]
#[command(
    after_help = "The unique English sentences are split 90/5/5; a test sentence's reference\nis its first translation in the file."
)]
struct Args {
    /// TSV with `english` and `spanish` columns (the shipped file holds the
    /// permissively licensed pairs; the full file works the same).
    #[arg(long, default_value = "data/eng-spa.tsv")]
    pairs: PathBuf,
    /// Results, samples, heatmap and curves.
    #[arg(long, default_value = "runs/translate")]
    out: PathBuf,
    /// Models, comma-separated: transformer, gru (no attention),
    /// gru-bahdanau (additive attention), gru-luong (multiplicative).
    #[arg(long, value_delimiter = ',', default_value = "transformer")]
    models: Vec<Kind>,
    /// Pairs with more words on either side are left out.
    #[arg(long, default_value_t = 12, value_parser = positive)]
    max_words: usize,
    /// BPE pieces per language.
    #[arg(long, default_value_t = 4000, value_parser = at_least(16))]
    vocab: usize,
    /// At most this many passes (early stopping on validation loss).
    #[arg(long, default_value_t = 6, value_parser = positive)]
    epochs: usize,
    /// Pairs per step.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    batch_size: usize,
    /// Peak AdamW learning rate (warm-up, then cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Transformer d_model (a multiple of its 4 heads), GRU word vectors
    /// (hidden twice that).
    #[arg(long, default_value_t = 128, value_parser = width)]
    width: usize,
    /// Dropout.
    #[arg(long, default_value_t = 0.1, value_parser = probability)]
    dropout: f64,
    /// Beam width of the second decoding.
    #[arg(long, default_value_t = 4, value_parser = positive)]
    beam: usize,
    /// Test translations printed.
    #[arg(long, default_value_t = 8)]
    samples: usize,
    /// Seed of the split, the weights and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A tiny run in seconds, saved in OUT/smoke (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
    /// Continue each model's training from the checkpoint of an earlier
    /// run in OUT/MODEL (same data and options: the split and the BPE
    /// vocabularies are made again from the seed), up to --epochs.
    #[arg(long)]
    resume: bool,
    /// Where to run: auto (a GPU when this build has one), cpu, cuda[:N]
    /// or metal[:N].
    #[arg(long, default_value = "auto", value_parser = common::cli::device)]
    device: candle_core::Device,
    /// Translate TEXT (English) with each of --models saved in OUT/MODEL
    /// (OUT/smoke/MODEL with --smoke), greedy and with --beam, then exit.
    #[arg(long, value_name = "TEXT")]
    translate: Option<String>,
}

/// A model width: a positive multiple of 4 (the Transformer's heads).
fn width(s: &str) -> Result<usize, String> {
    match at_least(4)(s)? {
        w if w % 4 == 0 => Ok(w),
        w => Err(format!("{w} is not a multiple of 4")),
    }
}

fn main() {
    common::main("translate", || run(Args::parse()))
}

/// A BPE tokenizer for one side of the training pairs (case and
/// punctuation kept: BLEU is computed on the text as written).
fn bpe<'a>(texts: impl Iterator<Item = &'a str> + Send, size: usize) -> Result<Tokenizer, Error> {
    let config = VocabConfig {
        max_size: size,
        min_frequency: 2,
        standardize: Standardize::None,
    };
    Ok(Tokenizer::bpe(texts, config)?)
}

/// An English sentence each trained model translates when training ends,
/// as `--translate` would (`cargo xtask check` compares the two).
const PROBE: &str = "I am hungry.";

fn run(args: Args) -> Result<(), Error> {
    let device = args.device.clone();
    println!("device: {}", seq::core::device_name(&device));
    let mut out = args.out.clone();
    if args.smoke {
        out = out.join("smoke"); // never overwrites a real run
    }
    if let Some(text) = &args.translate {
        return translate_saved(&args, &out, text, &device);
    }
    let mut splits = pairs::load(&args.pairs, args.max_words, args.seed)?;
    let epochs = if args.smoke { 1 } else { args.epochs };
    if args.smoke {
        splits.train.truncate(512);
        splits.val.truncate(64);
        splits.test.truncate(32);
    }
    let english = bpe(splits.train.iter().map(|p| p.0.as_str()), args.vocab)?;
    let spanish = bpe(splits.train.iter().map(|p| p.1.as_str()), args.vocab)?;
    let encode =
        |tk: &Tokenizer, text: &str| -> Result<Vec<u32>, Error> { Ok(tk.encode(text, false)?) };
    let sides = |ps: &[Pair]| -> Result<(Ids, Ids), Error> {
        let src = ps
            .iter()
            .map(|p| encode(&english, &p.0))
            .collect::<Result<_, _>>()?;
        let tgt = ps
            .iter()
            .map(|p| encode(&spanish, &p.1))
            .collect::<Result<_, _>>()?;
        Ok((src, tgt))
    };
    let (train_src, train_tgt) = sides(&splits.train)?;
    let (val_src, val_tgt) = sides(&splits.val)?;
    let (test_src, _) = sides(&splits.test)?;
    let specials = Specials::of(&spanish)?;
    let fit = pair_batches(&train_src, &train_tgt, args.batch_size, specials, &device)?;
    let val = pair_batches(&val_src, &val_tgt, 128, specials, &device)?;
    println!(
        "{} training, {} validation pairs, {} test sentences (up to {} words); BPE vocabularies {} / {}",
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        args.max_words,
        english.vocab_size(),
        spanish.vocab_size()
    );
    english.save(&ensure(&out)?.join("tokenizer-en.json"))?;
    spanish.save(&out.join("tokenizer-es.json"))?;

    let references: Vec<&str> = splits.test.iter().map(|p| p.1.as_str()).collect();
    for &kind in &args.models {
        let start = Instant::now();
        let sizes = Sizes {
            src_vocab: english.vocab_size(),
            tgt_vocab: spanish.vocab_size(),
            width: args.width,
            dropout: args.dropout,
            label_smoothing: 0.1,
            specials,
        };
        let params = Params::new(args.seed);
        let model = Translator::new(kind, sizes, params.var_builder(DType::F32, &device))?;
        let optimizer = OptimizerConfig::AdamW {
            lr: args.lr,
            betas: (0.9, 0.98),
            eps: 1e-9,
            weight_decay: 0.01,
        }
        .build(params.named_vars())?;
        let dir = out.join(kind.name());
        let mut tc = TrainerConfig::new(epochs);
        tc.seed = args.seed;
        tc.schedule = Schedule::Cosine {
            warmup: (fit.len() as u64 / 2).max(1),
            total: (fit.len() * epochs) as u64,
            min_lr: args.lr / 20.0,
        };
        tc.clip_norm = Some(1.0);
        tc.early_stopping = Some(EarlyStopping::new("val_loss", Goal::Min, 2));
        tc.log_dir = Some(dir.clone());
        let checkpoint = dir.join("checkpoint.safetensors");
        tc.checkpoint = Some(checkpoint.clone());
        println!("{}:", kind.name());
        let mut trainer = Trainer::new(tc, params.clone(), optimizer);
        if args.resume {
            if !checkpoint.exists() {
                return Err(format!(
                    "--resume: no checkpoint {} (train without --resume first)",
                    checkpoint.display()
                )
                .into());
            }
            trainer.resume(&checkpoint)?;
            println!("resumed from {}", checkpoint.display());
        }
        trainer.fit(&model, &fit, Some(&val))?;
        let train_seconds = start.elapsed().as_secs_f64();
        params.save(dir.join("model.safetensors"))?;
        let config = serde_json::json!({ "model": kind.name(), "width": args.width });
        write_text(&dir.join("config.json"), &config.to_string())?;
        for line in translations(
            kind,
            &model,
            (&english, &spanish),
            PROBE,
            args.beam,
            &device,
        )? {
            println!("{line}");
        }

        let mut decodings = vec![("greedy".to_string(), 1)];
        if args.beam > 1 {
            decodings.push((format!("beam {}", args.beam), args.beam));
        }
        let mut scores = Vec::new();
        let mut best: Vec<String> = Vec::new();
        for (name, beam) in &decodings {
            let t = Instant::now();
            let ids = model.translate(&test_src, *beam, &device)?;
            let hyps = ids
                .iter()
                .map(|h| spanish.decode(h))
                .collect::<Result<Vec<_>, _>>()?;
            let hyp_strs: Vec<&str> = hyps.iter().map(String::as_str).collect();
            let bleu = corpus_bleu(&hyp_strs, std::slice::from_ref(&references))?;
            println!(
                "{} {name}: BLEU {:.2} ({:.0} s to decode {} sentences)",
                kind.name(),
                bleu.score,
                t.elapsed().as_secs_f64(),
                hyps.len()
            );
            scores.push(serde_json::json!({"decoding": name, "bleu": bleu.score, "brevity_penalty": bleu.brevity_penalty, "precisions": bleu.precisions}));
            best = hyps;
        }
        let samples = samples_text(&splits.test, &best, args.samples);
        println!("{samples}");
        write_text(&dir.join("samples.txt"), &samples)?;
        write_text(&dir.join("translations.txt"), &(best.join("\n") + "\n"))?;
        if let Some(svg) = draw_heatmap(&model, &english, &spanish, &test_src, &dir, &device)? {
            println!("attention heatmap: {}", svg.display());
        }
        write_results(
            &dir,
            &serde_json::json!({
                "example": "translate",
                "model": kind.name(),
                "pairs": args.pairs,
                "train_pairs": splits.train.len(),
                "test_sentences": splits.test.len(),
                "scores": scores,
                "train_seconds": train_seconds,
                "seconds": start.elapsed().as_secs_f64(),
            }),
        )?;
    }
    println!(
        "results, translations, samples and curves in {}/MODEL",
        out.display()
    );
    Ok(())
}

/// `text` translated by `model`, greedy and (with `beam > 1`) by beam
/// search, one line each.
fn translations(
    kind: Kind,
    model: &Translator,
    (english, spanish): (&Tokenizer, &Tokenizer),
    text: &str,
    beam: usize,
    device: &Device,
) -> Result<Vec<String>, Error> {
    let src = english.encode(text, false)?;
    let widths = if beam > 1 { vec![1, beam] } else { vec![1] };
    let mut lines = Vec::new();
    for width in widths {
        let out = model
            .translate(std::slice::from_ref(&src), width, device)?
            .remove(0);
        let how = match width {
            1 => "greedy".to_string(),
            w => format!("beam {w}"),
        };
        lines.push(format!(
            "{} {how}: {text:?} -> {:?}",
            kind.name(),
            spanish.decode(&out)?
        ));
    }
    Ok(lines)
}

/// `--translate`: each of `--models` saved in `out` translates `text`.
fn translate_saved(args: &Args, out: &Path, text: &str, device: &Device) -> Result<(), Error> {
    let english = Tokenizer::from_file(&out.join("tokenizer-en.json"))
        .map_err(|e| format!("{e} (train first)"))?;
    let spanish = Tokenizer::from_file(&out.join("tokenizer-es.json"))
        .map_err(|e| format!("{e} (train first)"))?;
    for &kind in &args.models {
        let dir = out.join(kind.name());
        let path = dir.join("config.json");
        let config: serde_json::Value = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e} (train this model first)", path.display()))?;
        let width = config["width"]
            .as_u64()
            .ok_or_else(|| format!("{}: no `width`", path.display()))? as usize;
        let sizes = Sizes {
            src_vocab: english.vocab_size(),
            tgt_vocab: spanish.vocab_size(),
            width,
            dropout: 0.0,
            label_smoothing: 0.0,
            specials: Specials::of(&spanish)?,
        };
        let params = Params::new(0);
        let model = Translator::new(kind, sizes, params.var_builder(DType::F32, device))?;
        params.load(dir.join("model.safetensors"))?;
        for line in translations(kind, &model, (&english, &spanish), text, args.beam, device)? {
            println!("{line}");
        }
    }
    Ok(())
}

/// `dir`, created if missing.
fn ensure(dir: &Path) -> Result<&Path, Error> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The first `n` test sentences: source, reference and translation.
fn samples_text(test: &[Pair], hyps: &[String], n: usize) -> String {
    test.iter()
        .zip(hyps)
        .take(n)
        .map(|((en, es), hyp)| format!("  EN  {en}\n  REF {es}\n  OUT {hyp}\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The attention over the first test sentence of 4 to 12 pieces, under its
/// greedy translation, to `DIR/attention.svg` (models with attention only).
fn draw_heatmap(
    model: &Translator,
    english: &Tokenizer,
    spanish: &Tokenizer,
    test_src: &[Vec<u32>],
    dir: &Path,
    device: &Device,
) -> Result<Option<PathBuf>, Error> {
    let Some(src) = test_src.iter().find(|s| (4..=12).contains(&s.len())) else {
        return Ok(None);
    };
    let out = model
        .translate(std::slice::from_ref(src), 1, device)?
        .remove(0);
    let Some(weights) = model.cross_attention(src, &out, device)? else {
        return Ok(None);
    };
    let pieces = |tk: &Tokenizer, ids: &[u32]| -> Vec<String> {
        ids.iter()
            .map(|&i| tk.id_to_token(i).unwrap_or_else(|| "?".into()))
            .collect()
    };
    let mut rows = pieces(spanish, &out);
    rows.push("[EOS]".into());
    let path = dir.join("attention.svg");
    heatmap::draw(&path, &weights, &rows, &pieces(english, src))?;
    Ok(Some(path))
}
