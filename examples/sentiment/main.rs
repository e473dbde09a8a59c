//! Sentiment analysis (many-to-one) on Rotten Tomatoes review snippets:
//! train a classifier, report test accuracy next to the majority-class
//! baseline, save the model and vocabulary, and score new text.
//!
//! ```text
//! cargo run --release --example sentiment                      # train and test
//! cargo run --release --example sentiment -- --predict "a gem" # score text
//! cargo run --release --example sentiment -- --help
//! ```

mod model;
mod text;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use seq::core::{Mode, Params, Rng};

use model::{Classifier, Config};
use text::{Review, Vocab};

const HELP: &str = "Sentiment analysis on Rotten Tomatoes reviews (many-to-one).

usage: cargo run --release --example sentiment -- [options]

  --train PATH       training TSV with `label` (pos/neg) and `text` columns
                     [data/rotten-tomatoes-train.tsv]
  --test PATH        test TSV, same layout [data/rotten-tomatoes-test.tsv]
  --out DIR          where the model, vocabulary and results go [runs/sentiment/MODEL]
  --epochs N         passes over the training data [4]
  --batch-size N     reviews per step [64]
  --lr F             AdamW learning rate [0.005]
  --model NAME       bilstm, lstm, gru or bag (bag of embeddings) [bilstm]
  --embed N          word vector width [64]
  --hidden N         recurrent units per direction [64]
  --dropout F        dropout on word vectors and features [0.3]
  --seed N           seed of the weights and the shuffling [0]
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
        epochs: 4,
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

fn main() {
    if let Err(e) = parse_args().and_then(run) {
        eprintln!("sentiment: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let device = seq::core::best_device();
    match &args.predict {
        Some(text) => predict(&args, text, &device),
        None => train(&args, &device).map_err(|e| e.to_string()),
    }
}

fn train(args: &Args, device: &Device) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut train_set = text::read_reviews(&args.train)?;
    let mut test_set = text::read_reviews(&args.test)?;
    let epochs = if args.smoke { 1 } else { args.epochs };
    let mut out = args.out_dir();
    if args.smoke {
        // A smoke run never overwrites a model the user trained.
        out = out.join("smoke");
        train_set.truncate(512);
        test_set.truncate(128);
    }
    let vocab = Vocab::build(train_set.iter().map(|r| r.text.as_str()), 2, 20_000);
    println!(
        "{} training and {} test reviews, vocabulary of {} words",
        train_set.len(),
        test_set.len(),
        vocab.len()
    );

    let params = Params::new(args.seed);
    let config = Config {
        kind: args.model,
        vocab: vocab.len(),
        embed: args.embed,
        hidden: args.hidden,
        dropout: args.dropout,
    };
    println!("model: {}", args.model.name());
    let model = Classifier::new(config, params.var_builder(DType::F32, device))?;
    let mut opt = AdamW::new(
        params.varmap().all_vars(),
        ParamsAdamW {
            lr: args.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;

    let encode = |set: &[Review]| -> Vec<(Vec<u32>, u32)> {
        set.iter()
            .map(|r| (vocab.encode(&r.text, MAX_LEN), r.label))
            .collect()
    };
    let mut train_data = encode(&train_set);
    let test_data = encode(&test_set);
    let mut rng = Rng::new(args.seed);
    for epoch in 1..=epochs {
        rng.shuffle(&mut train_data);
        let (mut total, mut n) = (0.0, 0);
        for chunk in train_data.chunks(args.batch_size) {
            let seqs: Vec<&[u32]> = chunk.iter().map(|(s, _)| s.as_slice()).collect();
            let labels: Vec<u32> = chunk.iter().map(|(_, l)| *l).collect();
            let (ids, y) = text::batch(&seqs, &labels, device)?;
            let logits = model.logits(&ids, Mode::Train)?;
            let loss = model::bce_with_logits(&logits, &y)?;
            opt.backward_step(&loss)?;
            total += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            n += chunk.len();
        }
        let acc = accuracy(&model, &test_data, device)?;
        println!(
            "epoch {epoch:>2}: train loss {:.4}  test accuracy {acc:.4}  ({:.1} s)",
            total / n as f64,
            start.elapsed().as_secs_f64()
        );
    }

    let acc = accuracy(&model, &test_data, device)?;
    let majority = majority_baseline(&train_set, &test_set);
    println!(
        "test accuracy {acc:.4} (majority-class baseline {majority:.4}) in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    std::fs::create_dir_all(&out)?;
    params.save(out.join("model.safetensors"))?;
    vocab.save(&out.join("vocab.txt"))?;
    std::fs::write(out.join("config.txt"), config.to_text())?;
    let results = format!(
        "{{\"example\": \"sentiment\", \"model\": \"{}\", \"test_accuracy\": {acc:.4}, \"majority_baseline\": {majority:.4}, \"epochs\": {epochs}, \"seconds\": {:.1}}}\n",
        args.model.name(),
        start.elapsed().as_secs_f64()
    );
    std::fs::write(out.join("results.json"), results)?;
    println!(
        "saved the model, vocabulary and results in {}",
        out.display()
    );
    Ok(())
}

fn accuracy(
    model: &Classifier,
    data: &[(Vec<u32>, u32)],
    device: &Device,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut right = 0;
    for chunk in data.chunks(256) {
        let seqs: Vec<&[u32]> = chunk.iter().map(|(s, _)| s.as_slice()).collect();
        let labels: Vec<u32> = chunk.iter().map(|(_, l)| *l).collect();
        let (ids, _) = text::batch(&seqs, &labels, device)?;
        let logits: Vec<f32> = model.logits(&ids, Mode::Eval)?.flatten_all()?.to_vec1()?;
        right += logits
            .iter()
            .zip(&labels)
            .filter(|(z, l)| (**z > 0.0) == (**l == 1))
            .count();
    }
    Ok(right as f64 / data.len() as f64)
}

/// The test accuracy of always answering the training set's majority label.
fn majority_baseline(train: &[Review], test: &[Review]) -> f64 {
    let pos = train.iter().filter(|r| r.label == 1).count();
    let majority = u32::from(2 * pos >= train.len());
    test.iter().filter(|r| r.label == majority).count() as f64 / test.len() as f64
}

fn predict(args: &Args, text: &str, device: &Device) -> Result<(), String> {
    let out = args.out_dir();
    let vocab = Vocab::load(&out.join("vocab.txt"))?;
    let config_path = out.join("config.txt");
    let config = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config = Config::from_text(&config, vocab.len())
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let params = Params::new(0);
    let model = Classifier::new(config, params.var_builder(DType::F32, device))
        .map_err(|e| e.to_string())?;
    params
        .load(out.join("model.safetensors"))
        .map_err(|e| e.to_string())?;
    let ids = vocab.encode(text, MAX_LEN);
    let (ids, _) = text::batch(&[&ids], &[0], device).map_err(|e| e.to_string())?;
    let logit = model
        .logits(&ids, Mode::Eval)
        .and_then(|l| Ok(l.flatten_all()?.to_vec1::<f32>()?))
        .map_err(|e| e.to_string())?[0];
    let p = 1.0 / (1.0 + (-logit as f64).exp());
    println!(
        "{:.3} positive  ({})  {text:?}",
        p,
        if p >= 0.5 { "pos" } else { "neg" }
    );
    Ok(())
}
