//! Hostile sizes from files, configurations and options, in a child process
//! whose address space is limited (`ulimit -v`): each is an error, none
//! aborts the process on a failed allocation or overflows.

use std::process::Command;

use candle_core::{DType, Device};
use seq::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use seq::conv::{Conv1d, Conv1dConfig};
use seq::core::{
    Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig, Params,
};
use seq::data::pipeline::{pad_sequences, Batcher, BatcherConfig, Side, Windows};
use seq::data::readers::timeseries::{read_series, SeriesOptions};
use seq::data::readers::ucr::read_ts;
use seq::data::vectors::{read_vectors, VectorFormat};
use seq::recurrent::{Lstm, RecurrentConfig};

/// Set in the child process.
const CHILD: &str = "SEQ_HARDENING_SIZES_CHILD";

/// The child's address-space limit, KiB (3 GiB).
const LIMIT_KIB: u64 = 3 << 20;

const HUGE: usize = 1 << 40;

fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("seq-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts `result` is an error whose message names `what`.
fn refused<T, E: std::fmt::Display>(case: &str, result: Result<T, E>, what: &str) {
    match result {
        Ok(_) => panic!("{case}: accepted"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(what),
                "{case}: the error does not name {what:?}: {msg}"
            );
            println!("{case}: {msg}");
        }
    }
}

fn hostile_sizes() {
    let vb = |p: &Params| p.var_builder(DType::F32, &Device::Cpu);
    // Layer sizes from a configuration (a saved config.json, an option).
    let p = Params::new(0);
    refused(
        "embedding",
        Embedding::new(EmbeddingConfig::new(HUGE, 512), vb(&p).pp("e")),
        "parameter",
    );
    // 4 GiB: more than the limit allows, less than the machine may have.
    refused(
        "embedding of 4 GiB",
        Embedding::new(EmbeddingConfig::new(1 << 30, 1), vb(&p).pp("e4")),
        "e4.weight",
    );
    refused(
        "linear",
        Linear::new(LinearConfig::new(HUGE, HUGE), vb(&p).pp("l")),
        "parameter",
    );
    refused(
        "layer norm",
        LayerNorm::new(LayerNormConfig::new(HUGE), vb(&p).pp("n")),
        "parameter",
    );
    refused(
        "lstm",
        Lstm::new(RecurrentConfig::new(64, 1 << 30), vb(&p).pp("r")),
        "parameter",
    );
    refused(
        "conv",
        Conv1d::new(Conv1dConfig::new(1 << 20, 1 << 20, 3), vb(&p).pp("c")),
        "parameter",
    );
    refused(
        "attention",
        MultiHeadAttention::new(MultiHeadAttentionConfig::new(1 << 24, 1), vb(&p).pp("a")),
        "parameter",
    );
    // Padding and windows from options.
    let seqs: Vec<&[u32]> = vec![&[1, 2, 3], &[4]];
    refused(
        "pad",
        pad_sequences(&seqs, Some(HUGE), Side::Post, Side::Post, 0),
        "pad_sequences",
    );
    refused(
        "pad overflow",
        pad_sequences(&seqs, Some(usize::MAX), Side::Post, Side::Post, 0),
        "overflows",
    );
    let w = Windows {
        sequence_length: usize::MAX,
        sampling_rate: 3,
        sequence_stride: 1,
        target_offset: 0,
    };
    refused("windows", w.starts(0..100), "span");
    let w = Windows {
        sequence_length: 2,
        sampling_rate: 1,
        sequence_stride: usize::MAX,
        target_offset: 0,
    };
    assert_eq!(w.starts(5..100).unwrap(), [5], "a huge stride: one window");
    // Bucket and prefetch sizes: bounded by the data, not allocated as given.
    let config = BatcherConfig {
        bucket: usize::MAX,
        prefetch: usize::MAX,
        ..BatcherConfig::new(usize::MAX)
    };
    let batches: Vec<usize> = Batcher::new(config)
        .iter(&[3, 1, 2], 0, |b| b.len())
        .collect();
    assert_eq!(batches, [3]);
    // Sizes read from files.
    let f = temp("huge.bin", b"1000000000000 300\nw \x00\x00\x00\x00\n");
    refused(
        "word2vec binary header",
        read_vectors(&f, VectorFormat::Word2VecBinary),
        "huge.bin",
    );
    let f = temp("dims.bin", b"2 4611686018427387904\nw \x00\x00\x00\x00\n");
    refused(
        "word2vec binary dims",
        read_vectors(&f, VectorFormat::Word2VecBinary),
        "dims.bin",
    );
    let f = temp("huge.txt", b"99999999999 3\nw 1 2 3\n");
    refused(
        "word2vec text header",
        read_vectors(&f, VectorFormat::Word2VecText),
        "huge.txt",
    );
    let f = temp(
        "huge.ts",
        b"@seriesLength 99999999999999\n@classLabel true a\n@data\n1,2:a\n",
    );
    refused(".ts series length", read_ts(&f), "huge.ts");
    let f = temp("span.csv", b"t,x\n0001-01-01,1\n9999-12-31,2\n");
    let series = read_series(
        &f,
        &SeriesOptions {
            time_column: "t".into(),
            ..Default::default()
        },
    )
    .unwrap();
    refused("resample span", series.resample(1), "resample");
}

#[test]
fn hostile_sizes_are_errors_under_a_memory_limit() {
    if std::env::var_os(CHILD).is_some() {
        hostile_sizes();
        println!("all refused");
        return;
    }
    if !cfg!(unix) {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "ulimit -v {LIMIT_KIB} && exec \"$0\" sizes::hostile_sizes_are_errors_under_a_memory_limit --exact --nocapture --test-threads=1"
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .arg(&exe)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the child failed or aborted ({:?}):\n{text}",
        out.status
    );
    assert!(text.contains("all refused"), "{text}");
}
