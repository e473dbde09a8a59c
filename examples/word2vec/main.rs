//! Word embeddings learned here: word2vec's skip-gram with negative
//! sampling (`seq::train::word2vec`) on any text, the vectors saved in
//! word2vec's text format, and each probe word's nearest neighbours by
//! cosine. The sentiment and classify examples start from the vectors with
//! `--vectors runs/word2vec/vectors.txt`.
//!
//! Text comes from plain files (one passage per line) or from the `text`
//! column of a TSV; it is standardised as the examples' tokenizer does
//! (lowercased, punctuation removed) and split on white space. The
//! default is the Brown corpus and the Rotten Tomatoes training reviews:
//! about 1.3 million words, no test review among them.
//!
//! ```text
//! cargo run --release --example word2vec
//! cargo run --release --example word2vec -- --text data/hamlet.txt --min-count 3 --near king,ghost
//! ```

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use seq::data::readers::text::{read_column, read_corpus};
use seq::data::Standardize;
use seq::train::word2vec::{Word2VecConfig, WordVectors};

use common::cli::positive;
use common::report::{write_results, write_text};
use common::Error;

/// Learn word vectors from text (skip-gram with negative sampling).
#[derive(Parser)]
struct Args {
    /// Text files, comma-separated: a `.tsv` gives its `text` column, any
    /// other file its lines.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "data/brown-genres.tsv,data/rotten-tomatoes-train.tsv"
    )]
    text: Vec<PathBuf>,
    /// Width of the vectors (the sentiment and classify examples' --embed).
    #[arg(long, default_value_t = 64, value_parser = positive)]
    dim: usize,
    /// The most words either side that count as context.
    #[arg(long, default_value_t = 5, value_parser = positive)]
    window: usize,
    /// Negative words per pair.
    #[arg(long, default_value_t = 5)]
    negatives: usize,
    /// Words seen fewer times are left out.
    #[arg(long, default_value_t = 5, value_parser = positive)]
    min_count: usize,
    /// Passes over the text.
    #[arg(long, default_value_t = 5, value_parser = positive)]
    epochs: usize,
    /// Words whose nearest neighbours are printed, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "good,bad,funny,boring,actor,king,city,war"
    )]
    near: Vec<String>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where `vectors.txt`, `neighbours.txt` and the results go.
    #[arg(long, default_value = "runs/word2vec")]
    out: PathBuf,
    /// A tiny run in seconds, saved in OUT/smoke (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
}

fn main() {
    common::main("word2vec", || run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let start = Instant::now();
    let mut passages = Vec::new();
    for path in &args.text {
        let texts = match path.extension().is_some_and(|e| e == "tsv") {
            true => read_column(path, b'\t', "text")?,
            false => read_corpus(path)?.lines().map(str::to_string).collect(),
        };
        passages.extend(texts);
    }
    if args.smoke {
        passages.truncate(50);
    }
    let sentences: Vec<Vec<String>> = passages
        .iter()
        .map(|p| {
            let text = Standardize::LowerAndStripPunctuation.apply(p);
            text.split_whitespace().map(str::to_string).collect()
        })
        .filter(|s: &Vec<String>| !s.is_empty())
        .collect();
    let words: usize = sentences.iter().map(Vec::len).sum();
    println!("{} passages, {words} words", sentences.len());
    let config = Word2VecConfig::new(args.dim)
        .with_window(args.window)
        .with_negatives(args.negatives)
        .with_min_count(args.min_count)
        .with_epochs(if args.smoke { 1 } else { args.epochs })
        .with_seed(args.seed);
    let vectors = WordVectors::train(&config, &sentences)?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} words of at least {} occurrences, {} wide, {} passes in {seconds:.1} s",
        vectors.words.len(),
        args.min_count,
        args.dim,
        config.epochs
    );
    let out = match args.smoke {
        true => args.out.join("smoke"),
        false => args.out.clone(),
    };
    let mut report = String::new();
    for word in &args.near {
        let line = match vectors.nearest(word, 8) {
            Some(near) => {
                let near: Vec<String> = near.iter().map(|(w, c)| format!("{w} {c:.2}")).collect();
                format!("{word}: {}", near.join(", "))
            }
            None => format!("{word}: not in the vocabulary"),
        };
        println!("{line}");
        report += &line;
        report.push('\n');
    }
    vectors.save(out.join("vectors.txt"))?;
    write_text(&out.join("neighbours.txt"), &report)?;
    write_results(
        &out,
        &serde_json::json!({
            "example": "word2vec",
            "text": args.text,
            "words": words,
            "vocabulary": vectors.words.len(),
            "dim": args.dim,
            "window": args.window,
            "negatives": args.negatives,
            "min_count": args.min_count,
            "epochs": config.epochs,
            "seed": args.seed,
            "seconds": seconds,
        }),
    )?;
    println!(
        "saved vectors.txt, neighbours.txt and the results in {}",
        out.display()
    );
    Ok(())
}
