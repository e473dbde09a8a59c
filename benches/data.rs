//! The data pipeline on the full Rotten Tomatoes training file: read the
//! TSV, train a word-level tokenizer, encode every review, and batch them
//! (bucketed by length, padded, as id tensors with masks). Prints the time
//! of each stage; medians of 5 runs.
//!
//! Run with `cargo xtask bench`.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use seq::data::pipeline::{pad_sequences, Batcher, BatcherConfig, Side};
use seq::data::readers::text::read_labelled_table;
use seq::data::{Tokenizer, VocabConfig};

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/rotten-tomatoes-train.tsv");
    let mut runs: Vec<[f64; 5]> = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let rows = read_labelled_table(&path, b'\t', "text", "label").expect("the shipped data");
        let t1 = Instant::now();
        let tk =
            Tokenizer::word_level(rows.iter().map(|r| r.text.as_str()), VocabConfig::default())
                .expect("a vocabulary");
        let t2 = Instant::now();
        let ids: Vec<Vec<u32>> = rows
            .iter()
            .map(|r| tk.encode(&r.text, false).expect("encoding"))
            .collect();
        let t3 = Instant::now();
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let batcher = Batcher::new(BatcherConfig {
            bucket: 8,
            prefetch: 0,
            ..BatcherConfig::new(64)
        });
        let mut tokens = 0;
        for batch in batcher.plan(&lengths, 0) {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
            let seq = pad_sequences(&seqs, None, Side::Post, Side::Post, 0)
                .expect("a batch")
                .to_seq(&Device::Cpu)
                .expect("a batch");
            tokens += seq.batch() * seq.time();
        }
        let t4 = Instant::now();
        assert!(tokens > 0);
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        runs.push([ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4), ms(t0, t4)]);
    }
    let median = |k: usize| {
        let mut v: Vec<f64> = runs.iter().map(|r| r[k]).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!("Rotten Tomatoes train (8,952 reviews), median of 5 runs:");
    for (k, stage) in [
        "read TSV",
        "train word-level tokenizer",
        "encode all",
        "batch (bucketed, padded, tensors)",
        "total",
    ]
    .iter()
    .enumerate()
    {
        println!("  {stage:<36} {:>8.1} ms", median(k));
    }
}
