//! Training from a corpus larger than memory should need: a generated
//! labelled TSV of 1 GiB (`target/bench/stream.tsv`, written once) streamed
//! through `seq_data::stream` (records read as needed, a shuffle buffer,
//! length buckets), tokenised and padded on two background workers, into a
//! small model (embeddings averaged over the words, a linear head) trained
//! by `Trainer::fit`. Prints the pipeline's throughput, the time the
//! trainer waited for data and the peak resident memory (`VmHWM`); the last
//! line is the same as JSON.
//!
//! Run with `cargo xtask bench`: 2,000 steps of 256 texts. `cargo bench -p
//! seq --bench stream -- --steps 0` streams the whole file (about 10
//! million texts, minutes); `--steps N` stops after N steps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use seq::core::{Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Params, Rng};
use seq::data::pipeline::{pad_sequences, Side};
use seq::data::stream::{Buckets, Records, ShuffleBuffer};
use seq::data::{Tokenizer, VocabConfig};
use seq::train::{loss, Loader, OptimizerConfig, Streamed, Task, Trainer, TrainerConfig};

/// The corpus's size.
const BYTES: u64 = 1 << 30;

/// Texts per batch.
const BATCH: usize = 256;

/// A review: its label and its words.
type Record = (u32, String);

/// Writes `BYTES` of `label\ttext` lines: texts of 4-40 words from a
/// vocabulary of 20,000 made-up words, the label a rule over two of them.
fn generate(path: &Path) -> std::io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() >= BYTES) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let words: Vec<String> = (0..20_000).map(|i| format!("w{i:x}")).collect();
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    out.write_all(b"label\ttext\n")?;
    let (mut written, mut rng) = (0u64, Rng::new(1));
    let mut line = String::new();
    while written < BYTES {
        line.clear();
        let n = 4 + rng.below(37);
        let mut label = 0;
        for k in 0..n {
            // Zipf-like: small ids are common.
            let id = (rng.uniform().powi(3) * words.len() as f64) as usize;
            label ^= u32::from(id == 7 || id == 11);
            line.push_str(if k == 0 { "" } else { " " });
            line.push_str(&words[id]);
        }
        let row = format!("{label}\t{line}\n");
        out.write_all(row.as_bytes())?;
        written += row.len() as u64;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path)
}

/// The epoch's stream: records shuffled through 16,384 and bucketed by
/// length 16 batches at a time, seeded from the run's seed and the epoch.
fn batches(
    path: PathBuf,
    epoch: usize,
    seed: u64,
) -> seq::train::Result<impl Iterator<Item = seq::train::Result<Vec<Record>>> + Send> {
    let records =
        Records::open(&path, b'\t').map_err(|e| seq::train::Error::Config(e.to_string()))?;
    let seed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let records = records.map(|r| {
        let r = r.map_err(|e| seq::train::Error::Config(e.to_string()))?;
        Ok((u32::from(r[0] == "1"), r[1].clone()))
    });
    // Errors pass through the buffer and the buckets as length-0 items.
    let shuffled = ShuffleBuffer::new(records, 16_384, seed);
    let length = |r: &seq::train::Result<Record>| r.as_ref().map_or(0, |(_, t)| t.len());
    Ok(Buckets::new(shuffled, BATCH, 16, length, seed).map(|batch| batch.into_iter().collect()))
}

/// Ids `[batch, time]`, their mask, labels `[batch, 1]`.
#[derive(Clone)]
struct Batch {
    ids: Tensor,
    mask: Tensor,
    labels: Tensor,
}

fn make(tokenizer: &Tokenizer, records: Vec<Record>) -> seq::train::Result<Batch> {
    let ids: Vec<Vec<u32>> = records
        .iter()
        .map(|(_, t)| {
            let mut ids = tokenizer.encode(t, false)?;
            ids.truncate(64);
            Ok(ids)
        })
        .collect::<seq::data::Result<_>>()
        .map_err(|e| seq::train::Error::Config(e.to_string()))?;
    let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let p = pad_sequences(&refs, None, Side::Post, Side::Post, 0)?;
    let labels: Vec<f32> = records.iter().map(|(l, _)| *l as f32).collect();
    Ok(Batch {
        ids: Tensor::from_vec(p.ids, (p.batch, p.time), &Device::Cpu)?,
        mask: Tensor::from_vec(
            p.mask.iter().map(|&m| m as f32).collect(),
            (p.batch, p.time),
            &Device::Cpu,
        )?,
        labels: Tensor::from_vec(labels, (records.len(), 1), &Device::Cpu)?,
    })
}

/// The mean of the words' vectors, then a linear head.
struct Model {
    embedding: Embedding,
    head: Linear,
}

impl Task<Batch> for Model {
    fn loss(&self, b: &Batch, _mode: Mode) -> seq::core::Result<Tensor> {
        let v = self.embedding.apply(&b.ids)?; // [batch, time, 32]
        let mask = b.mask.unsqueeze(2)?;
        let mean = v
            .broadcast_mul(&mask)?
            .sum(1)?
            .broadcast_div(&mask.sum(1)?.clamp(1f32, f32::MAX)?)?;
        let z = self.head.apply(&mean)?;
        loss::bce_with_logits(&z, &b.labels)
    }

    fn size(&self, b: &Batch) -> usize {
        b.ids.dims()[0]
    }
}

/// This process's peak resident memory, MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The streaming benchmark.
#[derive(clap::Parser)]
struct Args {
    /// Stop after this many steps; 0 streams the whole file.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps = Args::parse().steps;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/stream.tsv");
    let t0 = Instant::now();
    generate(&path)?;
    let bytes = std::fs::metadata(&path)?.len();
    eprintln!(
        "{}: {:.2} GiB ({:.0} s to make)",
        path.display(),
        bytes as f64 / (1u64 << 30) as f64,
        t0.elapsed().as_secs_f64()
    );

    // The vocabulary from the stream's first 100,000 texts.
    let t1 = Instant::now();
    let texts = Records::open(&path, b'\t')?
        .take(100_000)
        .map(|r| r.map(|r| r[1].clone()).unwrap_or_default());
    let tokenizer = Tokenizer::word_level(
        texts,
        VocabConfig {
            max_size: 20_004,
            ..VocabConfig::default()
        },
    )?;
    eprintln!(
        "vocabulary of {} in {:.1} s",
        tokenizer.vocab_size(),
        t1.elapsed().as_secs_f64()
    );

    let params = Params::new(0);
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let model = Model {
        embedding: Embedding::new(
            EmbeddingConfig::new(tokenizer.vocab_size(), 32),
            vb.pp("embedding"),
        )?,
        head: Linear::new(LinearConfig::new(32, 1), vb.pp("head"))?,
    };
    let source = Streamed::new(
        |epoch, seed| batches(path.clone(), epoch, seed),
        |records| make(&tokenizer, records),
    );
    let mut config = TrainerConfig::new(1);
    config.quiet = true;
    config.loader = Loader {
        workers: 2,
        prefetch: 4,
    };
    config.steps_per_epoch = (steps > 0).then_some(steps);
    let optimizer = OptimizerConfig::adam(1e-2).build(params.named_vars())?;
    let mut trainer = Trainer::new(config, params.clone(), optimizer);
    let t2 = Instant::now();
    let history = trainer.fit(&model, &source, None)?;
    let seconds = t2.elapsed().as_secs_f64();
    let record = &history.epochs[0];
    let get = |k: &str| {
        record
            .iter()
            .find(|(n, _)| n == k)
            .map_or(f64::NAN, |(_, v)| *v)
    };
    let (wait, loss) = (get("data_wait_s"), get("train_loss"));
    let peak = peak_rss_mib();
    println!(
        "streamed {} in {seconds:.0} s: train loss {loss:.4}, waited {wait:.1} s for data, peak resident memory {peak:.0} MiB",
        if steps > 0 { format!("{steps} steps") } else { format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64) }
    );
    println!(
        "{}",
        serde_json::json!({
            "workload": "stream 1 GiB TSV -> tokenise -> batch -> train",
            "file_bytes": bytes,
            "steps": if steps > 0 { steps } else { 0 },
            "seconds": seconds,
            "data_wait_s": wait,
            "train_loss": loss,
            "peak_rss_mib": peak,
        })
    );
    Ok(())
}
