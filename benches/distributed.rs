//! Data-parallel training speed: the sentiment example's model (a
//! bidirectional LSTM, max-pooled, with dropout and AdamW; `examples/common`)
//! on the shipped reviews, global batches of 64 shared out among the ranks,
//! each rank on one thread. `cargo xtask bench` runs it under `mpirun -np 1`
//! and `-np 2`; rank 0 prints steps per second and the share of the step
//! time spent in the all-reduce (the last line as JSON).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use seq::core::Params;
use seq::data::readers::text::read_labelled_table;
use seq::train::distributed::{shard_rows, Collective, Mpi};
use seq::train::{OptimizerConfig, Planned, Trainer, TrainerConfig};

#[path = "../examples/common/mod.rs"]
#[allow(unused)]
mod common;

use common::classifier::{text_batches, Classifier, TextBatch};
use common::encoder::{EncoderConfig, Kind};
use common::words::reviews;

/// Steps timed (after 5 to warm up).
const STEPS: usize = 40;

/// An MPI communicator that adds up the time its collectives take.
struct Timed {
    inner: Mpi,
    spent: Rc<Cell<Duration>>,
}

impl Timed {
    fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let out = f();
        self.spent.set(self.spent.get() + start.elapsed());
        out
    }
}

impl Collective for Timed {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn world_size(&self) -> usize {
        self.inner.world_size()
    }
    fn all_reduce_sum(&self, buffer: &mut [f64]) -> seq::train::Result<()> {
        self.time(|| self.inner.all_reduce_sum(buffer))
    }
    fn broadcast(&self, buffer: &mut [f64]) -> seq::train::Result<()> {
        self.time(|| self.inner.broadcast(buffer))
    }
    fn barrier(&self) -> seq::train::Result<()> {
        self.time(|| self.inner.barrier())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mpi = Mpi::init()?;
    let (rank, world) = (mpi.rank(), mpi.world_size());
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/rotten-tomatoes-train.tsv"
    );
    let rows = read_labelled_table(path.as_ref(), b'\t', "text", "label")?;
    let (tokenizer, ids, labels) = reviews(&rows, 64)?;
    let params = Params::new(0);
    let config = EncoderConfig {
        kind: Kind::BiLstmMax,
        vocab: tokenizer.vocab_size(),
        embed: 64,
        hidden: 64,
        dropout: 0.3,
        max_len: 64,
    };
    let model = Classifier::new(config, 2, params.var_builder(DType::F32, &Device::Cpu))?;
    // Global batches of 64 rows in a seeded order; this rank takes its share.
    let source = Planned::new(
        |epoch: usize, seed: u64| {
            let mut order: Vec<usize> = (0..ids.len()).collect();
            seq::core::Rng::new(seed ^ epoch as u64).shuffle(&mut order);
            Ok(order
                .chunks(64)
                .map(|b| shard_rows(b, rank, world))
                .collect())
        },
        |rows: Vec<usize>| -> seq::train::Result<TextBatch> {
            let (batch_ids, batch_labels): (Vec<Vec<u32>>, Vec<u32>) =
                rows.iter().map(|&r| (ids[r].clone(), labels[r])).unzip();
            let mut one = text_batches(&batch_ids, &batch_labels, rows.len(), &Device::Cpu)?;
            Ok(one.remove(0))
        },
    );
    let spent = Rc::new(Cell::new(Duration::ZERO));
    let mut times = Vec::new();
    for (steps, timed) in [(5, false), (STEPS, true)] {
        let mut cfg = TrainerConfig::new(1);
        (cfg.quiet, cfg.steps_per_epoch) = (true, Some(steps));
        let optimizer = OptimizerConfig::adamw(5e-3).build(params.named_vars())?;
        let mut trainer = Trainer::new(cfg, params.clone(), optimizer);
        trainer.distribute(Box::new(Timed {
            inner: mpi.clone(),
            spent: spent.clone(),
        }));
        spent.set(Duration::ZERO);
        let start = Instant::now();
        trainer.fit(&model, &source, None)?;
        if timed {
            times.push((start.elapsed(), spent.get()));
        }
    }
    let (elapsed, comm) = times[0];
    if rank == 0 {
        let per_s = STEPS as f64 / elapsed.as_secs_f64();
        let share = comm.as_secs_f64() / elapsed.as_secs_f64();
        println!(
            "{world} rank(s), one thread each: {per_s:.2} steps/s of 64 reviews, {:.0}% of the time in collectives",
            100.0 * share
        );
        println!(
            "{}",
            serde_json::json!({
                "workload": "sentiment BiLSTM step, global batch 64",
                "ranks": world,
                "steps_per_s": per_s,
                "communication_share": share,
            })
        );
    }
    Ok(())
}
