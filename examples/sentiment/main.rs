//! Sentiment analysis (many-to-one) on Rotten Tomatoes review snippets:
//! train a classifier, report test accuracy next to the majority-class
//! baseline, save the model, tokenizer, results and training curves, and
//! score new text.
//!
//! ```text
//! cargo run --release --example sentiment                      # train and test
//! cargo run --release --example sentiment -- --predict "a gem" # score text
//! cargo run --release --example sentiment -- --folds 10        # cross-validate
//! cargo run --release --example sentiment -- --help
//! ```

#[path = "../common/mod.rs"]
mod common;
mod reviews;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use seq::core::Params;
use seq::data::pipeline::k_folds;
use seq::data::Tokenizer;
use seq::train::distributed::Collective;
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Task, Trainer, TrainerConfig};

use common::classifier::{text_batches, text_source, Classifier};
use common::cli::{out_dir, positive, probability};
use common::encoder::{EncoderConfig, Kind};
use common::naive_bayes;
use common::report::{majority_baseline, mean_sd, write_results, write_text};
use common::words::{load_word_vectors, vocabulary, word_ids};
use common::Error;
use reviews::{Reviews, Split};

/// Sentiment analysis on Rotten Tomatoes reviews (many-to-one).
#[derive(Parser)]
struct Args {
    /// Training TSV with `label` (pos/neg) and `text` columns; 10% is held
    /// out for validation.
    #[arg(long, default_value = "data/rotten-tomatoes-train.tsv")]
    train: PathBuf,
    /// Test TSV, same layout.
    #[arg(long, default_value = "data/rotten-tomatoes-test.tsv")]
    test: PathBuf,
    /// Where the model, tokenizer, results and curves go [default: runs/sentiment/MODEL].
    #[arg(long)]
    out: Option<PathBuf>,
    /// bilstm-max (bidirectional LSTM, max over its outputs), bilstm (its
    /// final states), lstm, gru, bag (bag of embeddings), nb-bag
    /// (Naive-Bayes-weighted bag of words, NBSVM), cnn (Kim 2014) or
    /// transformer.
    #[arg(long, default_value = "bilstm-max")]
    model: Kind,
    /// At most this many passes over the training data.
    #[arg(long, default_value_t = 6, value_parser = positive)]
    epochs: usize,
    /// Reviews per step.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 5e-3)]
    lr: f64,
    /// Word vector width.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    embed: usize,
    /// Recurrent units per direction, or CNN filters per width.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    hidden: usize,
    /// Dropout on word vectors and features.
    #[arg(long, default_value_t = 0.3, value_parser = probability)]
    dropout: f64,
    /// With --model bag or nb-bag: also word pairs, hashed into N buckets
    /// (fastText's bigrams); 0: words only.
    #[arg(long, default_value_t = 0)]
    bigrams: usize,
    /// Start the word vectors from this word2vec text file (e.g. the
    /// word2vec example's `vectors.txt`); its width must be --embed.
    #[arg(long, value_name = "FILE")]
    vectors: Option<PathBuf>,
    /// Seed of the weights, the split and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train with this many seeds (SEED, SEED + 1, ...), each saved in
    /// OUT/seed-N, and report the mean and standard deviation of the test
    /// accuracy.
    #[arg(long, default_value_t = 1, value_parser = positive)]
    seeds: usize,
    /// Pool the training and test files and report the mean and standard
    /// deviation of K-fold cross-validation: each fold is tested once, by a
    /// model trained on the others (10% of them held out for validation),
    /// and saved in OUT/fold-N. Kim (2014) reports 10 folds on this corpus.
    /// 1: train on --train, test on --test.
    #[arg(long, default_value_t = 1, value_parser = positive)]
    folds: usize,
    /// Score TEXT with the model saved in --out (for --model; OUT/smoke
    /// with --smoke), then exit.
    #[arg(long, value_name = "TEXT")]
    predict: Option<String>,
    /// Train as one rank of an MPI job, each on its share of every batch
    /// (build with `--features mpi`; launch with `mpirun -np N`).
    #[arg(long)]
    distributed: bool,
    /// A tiny run in seconds, saved in OUT/smoke (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
    /// Where to run: auto (a GPU when this build has one), cpu, cuda[:N]
    /// or metal[:N].
    #[arg(long, default_value = "auto", value_parser = common::cli::device)]
    device: candle_core::Device,
}

impl Args {
    /// `--out`, or `runs/sentiment/MODEL`.
    fn out(&self) -> PathBuf {
        out_dir(self.out.as_deref(), "sentiment", self.model.name())
    }
}

/// The options, checked against each other.
fn parse_args() -> Result<Args, String> {
    let args = Args::parse();
    if args.bigrams > 0 && !matches!(args.model, Kind::Bag | Kind::NbBag) {
        return Err(
            "--bigrams goes with --model bag or nb-bag: word pairs have no place in a sequence"
                .into(),
        );
    }
    if args.seeds > 1 && args.folds > 1 {
        return Err("--seeds and --folds are two protocols: pick one".into());
    }
    let several = args.seeds > 1 || args.folds > 1;
    if several && (args.distributed || args.predict.is_some()) {
        return Err(
            "--seeds and --folds train several models: not with --distributed or --predict".into(),
        );
    }
    Ok(args)
}

/// Reviews are cut to this many words (the longest shipped one has 53).
const MAX_LEN: usize = 64;

/// The word ids of a review, cut to [`MAX_LEN`] (an empty review reads as
/// one unknown word); with `bigrams` buckets, followed by the ids of its
/// word pairs, hashed into `vocab..vocab + bigrams` (fastText's bigrams,
/// Joulin et al. 2017). For the Naive-Bayes bag, each id once, ascending.
fn review_ids(
    tokenizer: &Tokenizer,
    text: &str,
    kind: Kind,
    bigrams: usize,
) -> Result<Vec<u32>, Error> {
    let mut ids = word_ids(tokenizer, text, MAX_LEN)?;
    if bigrams > 0 {
        let vocab = tokenizer.vocab_size() as u64;
        let pairs: Vec<u32> = ids
            .windows(2)
            .map(|w| {
                // FNV-1a over the two ids.
                let h = w
                    .iter()
                    .flat_map(|id| id.to_le_bytes())
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                    });
                (vocab + h % bigrams as u64) as u32
            })
            .collect();
        ids.extend(pairs);
    }
    if kind == Kind::NbBag {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(ids)
}

fn main() {
    common::main("sentiment", || run(parse_args()?))
}

fn run(args: Args) -> Result<(), Error> {
    let device = args.device.clone();
    println!("device: {}", seq::core::device_name(&device));
    let mut out = args.out();
    if args.smoke {
        out = out.join("smoke"); // a smoke run never overwrites a trained model
    }
    if let Some(text) = &args.predict {
        return predict(&out, text, &device);
    }
    let reviews = Reviews::read(&args.train, &args.test, args.smoke)?;
    if args.seeds == 1 && args.folds == 1 {
        let split = reviews.shipped_split(args.seed)?;
        return train(&args, &reviews, &split, args.seed, &out, &device).map(|_| ());
    }
    // (folder, seed, split) of each model.
    let runs: Vec<(String, u64, Split)> = if args.folds > 1 {
        k_folds(reviews.labels.len(), args.folds, args.seed)
            .map_err(|e| format!("--folds {}: {e}", args.folds))?
            .into_iter()
            .enumerate()
            .map(|(k, test)| {
                Ok((
                    format!("fold-{k}"),
                    args.seed,
                    reviews.fold_split(test, args.seed)?,
                ))
            })
            .collect::<Result<_, Error>>()?
    } else {
        (args.seed..)
            .take(args.seeds)
            .map(|seed| Ok((format!("seed-{seed}"), seed, reviews.shipped_split(seed)?)))
            .collect::<Result<_, Error>>()?
    };
    let accuracies = runs
        .iter()
        .map(|(folder, seed, split)| {
            train(&args, &reviews, split, *seed, &out.join(folder), &device)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mean, std) = mean_sd(&accuracies);
    let protocol = match args.folds {
        1 => format!("{} seeds", args.seeds),
        k => format!("{k} folds"),
    };
    println!("test accuracy over {protocol}: {mean:.4} +- {std:.4} (sample standard deviation)");
    write_results(
        &out,
        &serde_json::json!({
            "example": "sentiment",
            "model": args.model.name(),
            "bigrams": args.bigrams,
            "vectors": args.vectors,
            "folds": args.folds,
            "runs": runs.iter().map(|(folder, _, _)| folder).collect::<Vec<_>>(),
            "seeds": runs.iter().map(|(_, seed, _)| seed).collect::<Vec<_>>(),
            "test_accuracy": accuracies,
            "mean": mean,
            "std": std,
        }),
    )
}

/// Trains with `seed` on `split` of `reviews`, saves the model and
/// results in `out`, and returns the test accuracy.
fn train(
    args: &Args,
    reviews: &Reviews,
    split: &Split,
    seed: u64,
    out: &Path,
    device: &Device,
) -> Result<f64, Error> {
    let start = Instant::now();
    let out = out.to_path_buf();
    let epochs = if args.smoke { 1 } else { args.epochs };
    let tokenizer = vocabulary(split.fit.iter().map(|&i| reviews.rows[i].text.as_str()))?;
    let encode = |idx: &[usize]| -> Result<Vec<Vec<u32>>, Error> {
        idx.iter()
            .map(|&i| review_ids(&tokenizer, &reviews.rows[i].text, args.model, args.bigrams))
            .collect()
    };
    let labels = |idx: &[usize]| -> Vec<u32> { idx.iter().map(|&i| reviews.labels[i]).collect() };
    let collective = match args.distributed {
        true => Some(mpi_rank()?),
        false => None,
    };
    let (rank, world) = collective
        .as_ref()
        .map_or((0, 1), |c| (c.rank(), c.world_size()));
    // Training batches drawn afresh every epoch (this rank's share of each).
    let (fit_ids, fit_labels) = (encode(&split.fit)?, labels(&split.fit));
    let fit = text_source(
        &fit_ids,
        &fit_labels,
        args.batch_size,
        (rank, world),
        device,
    );
    let val = text_batches(&encode(&split.val)?, &labels(&split.val), 256, device)?;
    let test_labels = labels(&split.test);
    let test = text_batches(&encode(&split.test)?, &test_labels, 256, device)?;
    println!(
        "{} training, {} validation and {} test reviews; vocabulary of {} words; model {}",
        split.fit.len(),
        split.val.len(),
        split.test.len(),
        tokenizer.vocab_size(),
        args.model.name()
    );

    let params = Params::new(seed);
    let config = EncoderConfig {
        kind: args.model,
        vocab: tokenizer.vocab_size() + args.bigrams,
        embed: args.embed,
        hidden: args.hidden,
        dropout: args.dropout,
        max_len: MAX_LEN,
    };
    let model = Classifier::new(config, 2, params.var_builder(DType::F32, device))?;
    if let Some(path) = &args.vectors {
        load_word_vectors(&params, path, &tokenizer)?;
    }
    if args.model == Kind::NbBag {
        naive_bayes::prepare(&params, &fit_ids, &fit_labels)?;
    }
    let optimizer = OptimizerConfig::adamw(args.lr)
        .with_weight_decay(0.0)
        .build(params.trainable_vars())?;
    let mut tc = TrainerConfig::new(epochs);
    tc.seed = seed;
    tc.early_stopping = Some(EarlyStopping::new("val_accuracy", Goal::Max, 2));
    tc.log_dir = Some(out.clone());
    let mut trainer = Trainer::new(tc, params.clone(), optimizer);
    if let Some(c) = collective {
        trainer.distribute(c);
    }
    let history = trainer.fit(&model, &fit, Some(&val))?;
    if rank != 0 {
        return Ok(0.0); // rank 0 reports and saves
    }

    let acc = model.metrics(&test)?[0].1;
    let as_usize = |l: &[u32]| l.iter().map(|&x| x as usize).collect::<Vec<_>>();
    let majority = majority_baseline(&as_usize(&fit_labels), &as_usize(&test_labels), 2);
    let seconds = start.elapsed().as_secs_f64();
    let epochs = history.epochs.len();
    println!("test accuracy {acc:.4} (majority-class baseline {majority:.4}) after {epochs} epochs in {seconds:.1} s");
    for text in PROBES {
        println!(
            "{}",
            score(&model, &tokenizer, config.kind, args.bigrams, text, device)?
        );
    }

    params.save(out.join("model.safetensors"))?;
    tokenizer.save(&out.join("tokenizer.json"))?;
    let mut saved = config.to_json();
    saved["bigrams"] = args.bigrams.into();
    write_text(&out.join("config.json"), &saved.to_string())?;
    write_results(
        &out,
        &serde_json::json!({
            "example": "sentiment",
            "model": args.model.name(),
            "seed": seed,
            "vectors": args.vectors,
            "test_accuracy": acc,
            "majority_baseline": majority,
            "epochs": epochs,
            "seconds": seconds,
        }),
    )?;
    println!(
        "saved the model, tokenizer, results and training curves in {}",
        out.display()
    );
    Ok(acc)
}

/// This process as a rank of the MPI job it was launched in.
#[cfg(feature = "mpi")]
fn mpi_rank() -> Result<Box<dyn Collective>, Error> {
    let mpi = seq::train::distributed::Mpi::init()?;
    println!("rank {} of {}", mpi.rank(), mpi.world_size());
    Ok(Box::new(mpi))
}

#[cfg(not(feature = "mpi"))]
fn mpi_rank() -> Result<Box<dyn Collective>, Error> {
    Err(
        "--distributed needs MPI: build with `--features mpi` (see the README's Scaling out)"
            .into(),
    )
}

/// Reviews the trained model scores when training ends, as `--predict`
/// would (`cargo xtask check` compares the two).
const PROBES: [&str; 2] = [
    "a gripping , beautifully acted film",
    "a dull , lifeless mess",
];

/// The model's probability that `text` is positive, as one line.
fn score(
    model: &Classifier,
    tokenizer: &Tokenizer,
    kind: Kind,
    bigrams: usize,
    text: &str,
    device: &Device,
) -> Result<String, Error> {
    let ids = review_ids(tokenizer, text, kind, bigrams)?;
    let ids = Tensor::from_vec(ids.clone(), (1, ids.len()), device)?;
    let p = model.probabilities(&ids)?[0][1];
    let label = if p >= 0.5 { "pos" } else { "neg" };
    Ok(format!("{p:.3} positive  ({label})  {text:?}"))
}

/// `--predict`: the model saved in `out` scores `text`.
fn predict(out: &Path, text: &str, device: &Device) -> Result<(), Error> {
    let tokenizer = Tokenizer::from_file(&out.join("tokenizer.json"))
        .map_err(|e| format!("{e} (train a model first)"))?;
    let config_path = out.join("config.json");
    let config = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let saved: serde_json::Value =
        serde_json::from_str(&config).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let config =
        EncoderConfig::from_json(&saved).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let bigrams = saved["bigrams"].as_u64().unwrap_or(0) as usize;
    let params = Params::new(0);
    let model = Classifier::new(config, 2, params.var_builder(DType::F32, device))?;
    params.load(out.join("model.safetensors"))?;
    println!(
        "{}",
        score(&model, &tokenizer, config.kind, bigrams, text, device)?
    );
    Ok(())
}
