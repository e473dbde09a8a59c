//! Sentiment analysis (many-to-one) on Rotten Tomatoes review snippets:
//! train a classifier, report test accuracy next to the majority-class
//! baseline, save the model, tokenizer, results and training curves, and
//! score new text.
//!
//! ```text
//! cargo run --release --example sentiment                      # train and test
//! cargo run --release --example sentiment -- --predict "a gem" # score text
//! cargo run --release --example sentiment -- --help
//! ```

mod model;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use seq::core::{Mode, Params};
use seq::data::pipeline::{pad_sequences, split_indices, Batcher, BatcherConfig, Side};
use seq::data::readers::text::{read_labelled_table, Labelled};
use seq::data::{Tokenizer, VocabConfig};
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Task, Trainer, TrainerConfig};

use model::{Classifier, Config};

const HELP: &str = "Sentiment analysis on Rotten Tomatoes reviews (many-to-one).

usage: cargo run --release --example sentiment -- [options]

  --train PATH       training TSV with `label` (pos/neg) and `text` columns
                     [data/rotten-tomatoes-train.tsv]; 10% is held out for validation
  --test PATH        test TSV, same layout [data/rotten-tomatoes-test.tsv]
  --out DIR          where the model, tokenizer, results and curves go [runs/sentiment/MODEL]
  --epochs N         at most this many passes over the training data [6]
  --batch-size N     reviews per step [64]
  --lr F             AdamW learning rate [0.005]
  --model NAME       bilstm, lstm, gru or bag (bag of embeddings) [bilstm]
  --embed N          word vector width [64]
  --hidden N         recurrent units per direction [64]
  --dropout F        dropout on word vectors and features [0.3]
  --seed N           seed of the weights, the split and the batch order [0]
  --predict TEXT     score TEXT with the model saved in --out (for --model), then exit
  --smoke            a tiny run in seconds, saved in OUT/smoke (used by `cargo xtask check`)
  -h, --help         this text";

struct Args {
    train: PathBuf,
    test: PathBuf,
    out: Option<PathBuf>,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    model: model::Kind,
    embed: usize,
    hidden: usize,
    dropout: f64,
    seed: u64,
    predict: Option<String>,
    smoke: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        train: "data/rotten-tomatoes-train.tsv".into(),
        test: "data/rotten-tomatoes-test.tsv".into(),
        out: None,
        epochs: 6,
        batch_size: 64,
        lr: 5e-3,
        model: model::Kind::BiLstm,
        embed: 64,
        hidden: 64,
        dropout: 0.3,
        seed: 0,
        predict: None,
        smoke: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--train" => a.train = value()?.into(),
            "--test" => a.test = value()?.into(),
            "--out" => a.out = Some(value()?.into()),
            "--epochs" => a.epochs = num(value()?)? as usize,
            "--batch-size" => a.batch_size = (num(value()?)? as usize).max(1),
            "--lr" => a.lr = num(value()?)?,
            "--model" => a.model = value()?.parse()?,
            "--embed" => a.embed = (num(value()?)? as usize).max(1),
            "--hidden" => a.hidden = (num(value()?)? as usize).max(1),
            "--dropout" => a.dropout = num(value()?)?,
            "--seed" => a.seed = num(value()?)? as u64,
            "--predict" => a.predict = Some(value()?),
            "--smoke" => a.smoke = true,
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}; see --help")),
        }
    }
    Ok(a)
}

impl Args {
    /// `--out`, or `runs/sentiment/MODEL`.
    fn out_dir(&self) -> PathBuf {
        let default = || PathBuf::from("runs/sentiment").join(self.model.name());
        self.out.clone().unwrap_or_else(default)
    }
}

/// Reviews are cut to this many words (the longest shipped one has 53).
const MAX_LEN: usize = 64;

type Error = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = parse_args().map_err(Error::from).and_then(run) {
        eprintln!("sentiment: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Error> {
    let device = seq::core::best_device();
    match &args.predict {
        Some(text) => predict(&args, text, &device),
        None => train(&args, &device),
    }
}

/// Token ids `[batch, time]` (padded after the text) and labels `[batch, 1]`.
struct Batch {
    ids: Tensor,
    labels: Tensor,
}

/// Reviews as batches: bucketed by length so that little is padding.
fn batches(
    ids: &[Vec<u32>],
    labels: &[u32],
    size: usize,
    device: &Device,
) -> Result<Vec<Batch>, Error> {
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    let plan = Batcher::new(BatcherConfig {
        bucket: 8,
        prefetch: 0,
        ..BatcherConfig::new(size)
    })
    .plan(&lengths, 0);
    plan.iter()
        .map(|rows| {
            let seqs: Vec<&[u32]> = rows.iter().map(|&i| ids[i].as_slice()).collect();
            let padded = pad_sequences(&seqs, None, Side::Post, Side::Post, 0);
            let y: Vec<f32> = rows.iter().map(|&i| labels[i] as f32).collect();
            Ok(Batch {
                ids: Tensor::from_vec(padded.ids, (padded.batch, padded.time), device)?,
                labels: Tensor::from_vec(y, (rows.len(), 1), device)?,
            })
        })
        .collect()
}

impl Task<Batch> for Classifier {
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        seq::train::loss::bce_with_logits(&self.logits(&b.ids, mode)?, &b.labels)
    }

    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut right, mut n) = (0usize, 0usize);
        for b in batches {
            let z: Vec<f32> = self.logits(&b.ids, Mode::Eval)?.flatten_all()?.to_vec1()?;
            let y: Vec<f32> = b.labels.flatten_all()?.to_vec1()?;
            right += z
                .iter()
                .zip(&y)
                .filter(|(z, y)| (**z > 0.0) == (**y > 0.5))
                .count();
            n += y.len();
        }
        Ok(vec![("accuracy".into(), right as f64 / n.max(1) as f64)])
    }

    fn size(&self, b: &Batch) -> usize {
        b.ids.dims()[0]
    }
}

fn labels_of(rows: &[Labelled], path: &std::path::Path) -> Result<Vec<u32>, Error> {
    rows.iter()
        .map(|r| match r.label.as_str() {
            "pos" => Ok(1),
            "neg" => Ok(0),
            other => Err(format!(
                "{}: label must be `pos` or `neg`, got {other:?}",
                path.display()
            )
            .into()),
        })
        .collect()
}

fn train(args: &Args, device: &Device) -> Result<(), Error> {
    let start = Instant::now();
    let mut train_rows = read_labelled_table(&args.train, b'\t', "text", "label")?;
    let mut test_rows = read_labelled_table(&args.test, b'\t', "text", "label")?;
    let mut out = args.out_dir();
    let epochs = if args.smoke { 1 } else { args.epochs };
    if args.smoke {
        // A smoke run never overwrites a model the user trained.
        out = out.join("smoke");
        train_rows.truncate(512);
        test_rows.truncate(128);
    }
    let (train_labels, test_labels) = (
        labels_of(&train_rows, &args.train)?,
        labels_of(&test_rows, &args.test)?,
    );
    let parts = split_indices(train_rows.len(), &[0.9, 0.1], args.seed)?;
    let (fit_idx, val_idx) = (&parts[0], &parts[1]);

    let tokenizer = Tokenizer::word_level(
        fit_idx.iter().map(|&i| train_rows[i].text.as_str()),
        VocabConfig {
            max_size: 20_000,
            min_frequency: 2,
            ..VocabConfig::default()
        },
    )?;
    let encode = |rows: &[Labelled], idx: &[usize]| -> Result<Vec<Vec<u32>>, Error> {
        idx.iter()
            .map(|&i| {
                let mut ids = tokenizer.encode(&rows[i].text, false)?;
                ids.truncate(MAX_LEN);
                if ids.is_empty() {
                    ids.push(1); // an empty review reads as one unknown word
                }
                Ok(ids)
            })
            .collect()
    };
    let pick =
        |labels: &[u32], idx: &[usize]| -> Vec<u32> { idx.iter().map(|&i| labels[i]).collect() };
    let all_test: Vec<usize> = (0..test_rows.len()).collect();
    let fit = batches(
        &encode(&train_rows, fit_idx)?,
        &pick(&train_labels, fit_idx),
        args.batch_size,
        device,
    )?;
    let val = batches(
        &encode(&train_rows, val_idx)?,
        &pick(&train_labels, val_idx),
        256,
        device,
    )?;
    let test = batches(&encode(&test_rows, &all_test)?, &test_labels, 256, device)?;
    println!(
        "{} training, {} validation and {} test reviews; vocabulary of {} words; model {}",
        fit_idx.len(),
        val_idx.len(),
        test_rows.len(),
        tokenizer.vocab_size(),
        args.model.name()
    );

    let params = Params::new(args.seed);
    let config = Config {
        kind: args.model,
        vocab: tokenizer.vocab_size(),
        embed: args.embed,
        hidden: args.hidden,
        dropout: args.dropout,
    };
    let model = Classifier::new(config, params.var_builder(DType::F32, device))?;
    let optimizer = OptimizerConfig::AdamW {
        lr: args.lr,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
    }
    .build(params.named_vars())?;
    let mut tc = TrainerConfig::new(epochs);
    tc.seed = args.seed;
    tc.early_stopping = Some(EarlyStopping::new("val_accuracy", Goal::Max, 2));
    tc.log_dir = Some(out.clone());
    let mut trainer = Trainer::new(tc, params.clone(), optimizer);
    let history = trainer.fit(&model, &fit, Some(&val))?;

    let acc = model.metrics(&test)?[0].1;
    let majority = majority_baseline(&train_labels, &test_labels);
    let seconds = start.elapsed().as_secs_f64();
    println!("test accuracy {acc:.4} (majority-class baseline {majority:.4}) after {} epochs in {seconds:.1} s", history.epochs.len());

    params.save(out.join("model.safetensors"))?;
    tokenizer.save(&out.join("tokenizer.json"))?;
    std::fs::write(out.join("config.txt"), config.to_text())?;
    let results = format!(
        "{{\"example\": \"sentiment\", \"model\": \"{}\", \"test_accuracy\": {acc:.4}, \"majority_baseline\": {majority:.4}, \"epochs\": {}, \"seconds\": {seconds:.1}}}\n",
        args.model.name(),
        history.epochs.len()
    );
    std::fs::write(out.join("results.json"), results)?;
    println!(
        "saved the model, tokenizer, results and training curves in {}",
        out.display()
    );
    Ok(())
}

/// The test accuracy of always answering the training set's majority label.
fn majority_baseline(train: &[u32], test: &[u32]) -> f64 {
    let pos = train.iter().filter(|&&l| l == 1).count();
    let majority = u32::from(2 * pos >= train.len());
    test.iter().filter(|&&l| l == majority).count() as f64 / test.len() as f64
}

fn predict(args: &Args, text: &str, device: &Device) -> Result<(), Error> {
    let out = args.out_dir();
    let tokenizer = Tokenizer::from_file(&out.join("tokenizer.json"))
        .map_err(|e| format!("{e} (train a model first)"))?;
    let config_path = out.join("config.txt");
    let config = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config = Config::from_text(&config, tokenizer.vocab_size())
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let params = Params::new(0);
    let model = Classifier::new(config, params.var_builder(DType::F32, device))?;
    params.load(out.join("model.safetensors"))?;
    let mut ids = tokenizer.encode(text, false)?;
    ids.truncate(MAX_LEN);
    if ids.is_empty() {
        ids.push(1);
    }
    let ids = Tensor::from_vec(
        pad_sequences(&[&ids], None, Side::Post, Side::Post, 0).ids,
        (1, ids.len()),
        device,
    )?;
    let logit = model
        .logits(&ids, Mode::Eval)?
        .flatten_all()?
        .to_vec1::<f32>()?[0];
    let p = 1.0 / (1.0 + (-logit as f64).exp());
    println!(
        "{p:.3} positive  ({})  {text:?}",
        if p >= 0.5 { "pos" } else { "neg" }
    );
    Ok(())
}
