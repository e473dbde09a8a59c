//! Document classification and authorship (many-to-one, many classes):
//! the genre of Brown corpus passages and the speaker of 2016 debate
//! statements, each by a 1D CNN and an LSTM; accuracy, macro-F1 and the
//! confusion matrix next to the majority-class baseline.
//!
//! ```text
//! cargo run --release --example classify
//! cargo run --release --example classify -- --tasks speaker --models bilstm,transformer
//! cargo run --release --example classify -- --help
//! ```

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use seq::core::Params;
use seq::data::Tokenizer;
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Trainer, TrainerConfig};

use common::classifier::{text_batches, text_source, Classifier, TextBatch};
use common::cli::{positive, probability};
use common::corpora::{self, Task, Texts};
use common::encoder::{EncoderConfig, Kind};
use common::report::{confusion_table, majority_baseline, mean_sd, write_results, write_text};
use common::words::{load_word_vectors, vocabulary, word_ids};
use common::Error;

/// Genre of Brown corpus passages and speaker of 2016 debate statements.
#[derive(Parser)]
#[command(
    after_help = "Documents and statements are split 70/10/20 within each class; Brown is\nsplit by document, never by passage."
)]
struct Args {
    /// Brown documents, TSV with `genre` and `text` columns.
    #[arg(long, default_value = "data/brown-genres.tsv")]
    brown: PathBuf,
    /// Debate statements, TSV with `speaker` and `statement` columns.
    #[arg(long, default_value = "data/debates-2016.tsv")]
    debates: PathBuf,
    /// The tasks, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "genre,speaker", value_parser = ["genre", "speaker"])]
    tasks: Vec<String>,
    /// Encoders, comma-separated: cnn, lstm, bilstm, bilstm-max, gru, bag, transformer.
    #[arg(long, value_delimiter = ',', default_value = "cnn,lstm")]
    models: Vec<Kind>,
    /// Results, confusion matrices and curves.
    #[arg(long, default_value = "runs/classify")]
    out: PathBuf,
    /// Words per Brown passage.
    #[arg(long, default_value_t = 100, value_parser = positive)]
    passage: usize,
    /// Statements are cut to this many words.
    #[arg(long, default_value_t = 128, value_parser = positive)]
    max_len: usize,
    /// At most this many passes (early stopping on validation accuracy).
    #[arg(long, default_value_t = 12, value_parser = positive)]
    epochs: usize,
    /// Texts per step.
    #[arg(long, default_value_t = 32, value_parser = positive)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Word vector width.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    embed: usize,
    /// Recurrent units, or CNN filters per width.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    hidden: usize,
    /// Dropout on word vectors and features.
    #[arg(long, default_value_t = 0.3, value_parser = probability)]
    dropout: f64,
    /// Start the word vectors from this word2vec text file (e.g. the
    /// word2vec example's `vectors.txt`); its width must be --embed.
    #[arg(long, value_name = "FILE")]
    vectors: Option<PathBuf>,
    /// Seed of the split, the weights and the batch order (the first one
    /// with --seeds).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Repeat with this many seeds (SEED, SEED + 1, ...: other splits,
    /// weights and batches), each saved in OUT/TASK/MODEL/seed-N, and
    /// report the mean and standard deviation.
    #[arg(long, default_value_t = 1, value_parser = positive)]
    seeds: usize,
    /// Classify TEXT with the model of each --tasks and --models saved in
    /// OUT/TASK/MODEL (OUT/smoke/... with --smoke; with --seeds, the first
    /// seed's), then exit.
    #[arg(long, value_name = "TEXT")]
    predict: Option<String>,
    /// A tiny run in seconds, saved in OUT/smoke (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
    /// Where to run: auto (a GPU when this build has one), cpu, cuda[:N]
    /// or metal[:N].
    #[arg(long, default_value = "auto", value_parser = common::cli::device)]
    device: candle_core::Device,
}

fn main() {
    common::main("classify", || run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let device = args.device.clone();
    println!("device: {}", seq::core::device_name(&device));
    let out = if args.smoke {
        args.out.join("smoke") // never overwrites a real run
    } else {
        args.out.clone()
    };
    let seeds: Vec<u64> = (args.seed..).take(args.seeds).collect();
    if let Some(text) = &args.predict {
        return predict(&args, &out, &seeds, text, &device);
    }
    let mut rows = Vec::new();
    let mut table = vec![
        "| task | model | seed | test accuracy | macro-F1 | majority baseline (acc / macro-F1) | time |"
            .to_string(),
        "|---|---|---|---|---|---|---|".to_string(),
    ];
    for name in &args.tasks {
        let mut scores = vec![Vec::new(); args.models.len()];
        for &seed in &seeds {
            let mut task = match name.as_str() {
                "genre" => corpora::brown(&args.brown, args.passage, seed)?,
                _ => corpora::debates(&args.debates, seed)?,
            };
            if args.smoke {
                task.train.sample(256);
                task.val.sample(64);
                task.test.sample(64);
            }
            println!(
                "{}: {} classes; {} training, {} validation, {} test texts (seed {seed})",
                task.name,
                task.classes.len(),
                task.train.texts.len(),
                task.val.texts.len(),
                task.test.texts.len()
            );
            for (&kind, scores) in args.models.iter().zip(&mut scores) {
                let dir = model_dir(&out, task.name, kind, seed, &seeds);
                let row = fit_one(&args, &task, kind, seed, &dir, &device)?;
                table.push(row.markdown.clone());
                scores.push(row.scores);
                rows.push(row.json);
            }
        }
        if seeds.len() > 1 {
            for (kind, scores) in args.models.iter().zip(&scores) {
                let (acc, f1): (Vec<f64>, Vec<f64>) = scores.iter().copied().unzip();
                let ((a, a_sd), (f, f_sd)) = (mean_sd(&acc), mean_sd(&f1));
                table.push(format!(
                    "| {name} | {} | mean of {} | {a:.3} +- {a_sd:.3} | {f:.3} +- {f_sd:.3} | | |",
                    kind.name(),
                    seeds.len()
                ));
                rows.push(serde_json::json!({
                    "task": name,
                    "model": kind.name(),
                    "seeds": seeds,
                    "test_accuracy_mean": a,
                    "test_accuracy_sd": a_sd,
                    "macro_f1_mean": f,
                    "macro_f1_sd": f_sd,
                }));
            }
        }
    }
    println!("\n{}", table.join("\n"));
    write_results(
        &out,
        &serde_json::json!({"example": "classify", "vectors": args.vectors, "runs": rows}),
    )?;
    println!(
        "results, confusion matrices and training curves in {}",
        out.display()
    );
    Ok(())
}

/// Where the model of `task` and `kind` trained with `seed` is saved.
fn model_dir(out: &Path, task: &str, kind: Kind, seed: u64, seeds: &[u64]) -> PathBuf {
    let dir = out.join(task).join(kind.name());
    match seeds.len() {
        1 => dir,
        _ => dir.join(format!("seed-{seed}")),
    }
}

/// A text each trained model classifies when training ends, per task, as
/// `--predict` would (`cargo xtask check` compares the two).
fn probe(task: &str) -> &'static str {
    match task {
        "genre" => "the jury said the election was conducted fairly",
        _ => "we are going to bring back our jobs",
    }
}

/// The class `model` gives `text`, as one line.
fn classify_line(
    (task, kind): (&str, Kind),
    model: &Classifier,
    (tokenizer, classes): (&Tokenizer, &[String]),
    max_len: usize,
    text: &str,
    device: &Device,
) -> Result<String, Error> {
    let ids = word_ids(tokenizer, text, max_len)?;
    let ids = Tensor::from_vec(ids.clone(), (1, ids.len()), device)?;
    let p = model.probabilities(&ids)?.swap_remove(0);
    let (best, pb) = p
        .iter()
        .enumerate()
        .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
    let class = classes.get(best).map_or("?", String::as_str);
    Ok(format!(
        "{task} / {}: {class} ({pb:.3})  {text:?}",
        kind.name()
    ))
}

/// `--predict`: the saved model of each task and encoder classifies `text`.
fn predict(
    args: &Args,
    out: &Path,
    seeds: &[u64],
    text: &str,
    device: &Device,
) -> Result<(), Error> {
    for task in &args.tasks {
        for &kind in &args.models {
            let dir = model_dir(out, task, kind, seeds[0], seeds);
            let tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"))
                .map_err(|e| format!("{e} (train first)"))?;
            let path = dir.join("config.json");
            let saved: serde_json::Value = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let config =
                EncoderConfig::from_json(&saved).map_err(|e| format!("{}: {e}", path.display()))?;
            let classes: Vec<String> = saved["classes"]
                .as_array()
                .and_then(|c| c.iter().map(|v| v.as_str().map(str::to_string)).collect())
                .ok_or_else(|| format!("{}: no `classes`", path.display()))?;
            let params = Params::new(0);
            let model = Classifier::new(
                config,
                classes.len(),
                params.var_builder(DType::F32, device),
            )?;
            params.load(dir.join("model.safetensors"))?;
            let words = (&tokenizer, &classes[..]);
            let line = classify_line((task, kind), &model, words, config.max_len, text, device)?;
            println!("{line}");
        }
    }
    Ok(())
}

/// One trained model's line in the table and its JSON.
struct Row {
    markdown: String,
    json: serde_json::Value,
    /// Test accuracy and macro-F1.
    scores: (f64, f64),
}

/// Trains `kind` on `task` and tests it.
fn fit_one(
    args: &Args,
    task: &Task,
    kind: Kind,
    seed: u64,
    dir: &Path,
    device: &Device,
) -> Result<Row, Error> {
    let start = Instant::now();
    let tokenizer = vocabulary(task.train.texts.iter().map(String::as_str))?;
    let max_len = args.max_len.max(args.passage);
    let ids = |t: &Texts| -> Result<Vec<Vec<u32>>, Error> {
        t.texts
            .iter()
            .map(|text| word_ids(&tokenizer, text, max_len))
            .collect()
    };
    let batches = |t: &Texts, size: usize| -> Result<Vec<TextBatch>, Error> {
        Ok(text_batches(&ids(t)?, &t.labels, size, device)?)
    };
    let train_ids = ids(&task.train)?;
    let fit = text_source(
        &train_ids,
        &task.train.labels,
        args.batch_size,
        (0, 1),
        device,
    );
    let (val, test) = (batches(&task.val, 128)?, batches(&task.test, 128)?);
    let params = Params::new(seed);
    let config = EncoderConfig {
        kind,
        vocab: tokenizer.vocab_size(),
        embed: args.embed,
        hidden: args.hidden,
        dropout: args.dropout,
        max_len,
    };
    let classes = task.classes.len();
    let model = Classifier::new(config, classes, params.var_builder(DType::F32, device))?;
    if let Some(path) = &args.vectors {
        load_word_vectors(&params, path, &tokenizer)?;
    }
    let optimizer = OptimizerConfig::adamw(args.lr).build(params.named_vars())?;
    let mut tc = TrainerConfig::new(if args.smoke { 1 } else { args.epochs });
    tc.seed = seed;
    tc.early_stopping = Some(EarlyStopping::new("val_accuracy", Goal::Max, 3));
    tc.log_dir = Some(dir.to_path_buf());
    println!("{} / {}:", task.name, kind.name());
    Trainer::new(tc, params.clone(), optimizer).fit(&model, &fit, Some(&val))?;

    let cm = model.confusion(&test)?;
    let (acc, f1) = (cm.accuracy(), cm.macro_f1());
    let as_usize = |l: &[u32]| l.iter().map(|&x| x as usize).collect::<Vec<_>>();
    let (train_y, test_y) = (as_usize(&task.train.labels), as_usize(&task.test.labels));
    let majority = majority_baseline(&train_y, &test_y, classes);
    // Always answering one class: F1 2p/(1+p) for it (p its share), 0 for the rest.
    let majority_f1 = 2.0 * majority / (1.0 + majority) / classes as f64;
    let seconds = start.elapsed().as_secs_f64();
    let confusion = confusion_table(&task.classes, &cm);
    println!(
        "{} / {}: test accuracy {acc:.3}, macro-F1 {f1:.3} (majority class {majority:.3} / {majority_f1:.3}) in {seconds:.0} s\n{confusion}",
        task.name,
        kind.name()
    );
    write_text(&dir.join("confusion.txt"), &confusion)?;
    let words = (&tokenizer, &task.classes[..]);
    let text = probe(task.name);
    let line = classify_line((task.name, kind), &model, words, max_len, text, device)?;
    println!("{line}");
    params.save(dir.join("model.safetensors"))?;
    tokenizer.save(&dir.join("tokenizer.json"))?;
    let mut saved = config.to_json();
    saved["classes"] = task.classes.clone().into();
    write_text(&dir.join("config.json"), &saved.to_string())?;
    Ok(Row {
        markdown: format!(
            "| {} | {} | {seed} | {acc:.3} | {f1:.3} | {majority:.3} / {majority_f1:.3} | {seconds:.0} s |",
            task.name,
            kind.name()
        ),
        scores: (acc, f1),
        json: serde_json::json!({
            "task": task.name,
            "model": kind.name(),
            "seed": seed,
            "classes": task.classes,
            "test_accuracy": acc,
            "macro_f1": f1,
            "majority_accuracy": majority,
            "majority_macro_f1": majority_f1,
            "confusion": cm.counts,
            "seconds": seconds,
        }),
    })
}
