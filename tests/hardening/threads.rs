//! The same seed gives the same weights on any number of threads: the
//! sentiment example's model (a bidirectional LSTM, max-pooled, with
//! dropout and AdamW) trained for 20 steps on the shipped reviews in child
//! processes with 1, 2 and 3 threads (`RAYON_NUM_THREADS`, which sizes
//! candle's pool and so seq's kernels' blocks).

use std::process::Command;

use candle_core::{DType, Device};
use seq::core::{Mode, Params};
use seq::data::readers::text::read_labelled_table;
use seq::train::{OptimizerConfig, Task, Trainer, TrainerConfig};

#[path = "../../examples/common/mod.rs"]
#[allow(unused)]
mod common;

use common::classifier::{text_batches, Classifier};
use common::encoder::{EncoderConfig, Kind};
use common::words::reviews;

/// Set in the child processes: the test then trains and prints the weights.
const CHILD: &str = "SEQ_HARDENING_THREADS_CHILD";

/// Trains 20 steps; a digest (FNV-1a) of every parameter's bits.
fn train_20_steps() -> String {
    // candle and seq size their thread pools from RAYON_NUM_THREADS.
    assert_eq!(
        seq::core::threads::count().to_string(),
        std::env::var("RAYON_NUM_THREADS").unwrap()
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/rotten-tomatoes-train.tsv"
    );
    let mut rows = read_labelled_table(path.as_ref(), b'\t', "text", "label").unwrap();
    rows.truncate(20 * 32);
    let (tokenizer, ids, labels) = reviews(&rows, 64).unwrap();
    let batches = text_batches(&ids, &labels, 32, &Device::Cpu).unwrap();
    assert_eq!(batches.len(), 20);

    let params = Params::new(7);
    let config = EncoderConfig {
        kind: Kind::BiLstmMax,
        vocab: tokenizer.vocab_size(),
        embed: 64,
        hidden: 64,
        dropout: 0.3,
        max_len: 64,
    };
    let model = Classifier::new(config, 2, params.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let optimizer = OptimizerConfig::adamw(5e-3)
        .build(params.named_vars())
        .unwrap();
    let mut tc = TrainerConfig::new(1);
    (tc.seed, tc.quiet) = (7, true);
    let mut trainer = Trainer::new(tc, params.clone(), optimizer);
    trainer.fit(&model, &batches, None).unwrap();
    assert!(model.loss(&batches[0], Mode::Eval).is_ok());
    params
        .named_vars()
        .iter()
        .flat_map(|(_, v)| {
            let t = v.as_tensor().flatten_all().unwrap();
            t.to_vec1::<f32>().unwrap()
        })
        .flat_map(|x| x.to_bits().to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
        .to_string()
}

#[test]
fn twenty_sentiment_steps_give_the_same_weights_on_1_2_and_3_threads() {
    if std::env::var_os(CHILD).is_some() {
        println!("weights {}", train_20_steps());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let weights: Vec<String> = ["1", "2", "3"]
        .iter()
        .map(|threads| {
            let out = Command::new(&exe)
                .args([
                    "threads::twenty_sentiment_steps_give_the_same_weights_on_1_2_and_3_threads",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, "1")
                .env("RAYON_NUM_THREADS", threads)
                .env_remove("CANDLE_NUM_THREADS")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{threads} threads: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // libtest writes the test's name on the same line.
            let line = text
                .split("weights ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or_default();
            assert!(
                !line.is_empty(),
                "{threads} threads printed no weights: {text}"
            );
            line.to_string()
        })
        .collect();
    assert_eq!(weights[0], weights[1], "1 and 2 threads differ");
    assert_eq!(weights[0], weights[2], "1 and 3 threads differ");
}
