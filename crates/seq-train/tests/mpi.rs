//! Data-parallel training over MPI, run by `cargo xtask check` as
//! `mpirun -np 2` of this test (feature `mpi`): two ranks, each on its half
//! of every global batch, end with the weights one process gets on the
//! whole batches; only rank 0 writes the checkpoint.
#![cfg(feature = "mpi")]

use candle_core::{DType, Device, Tensor};
use seq_core::{Activation, Linear, LinearConfig, Mode, Params, Result, Rng};
use seq_train::distributed::{shard_rows, Collective, Mpi, SingleProcess};
use seq_train::{OptimizerConfig, Planned, Task, Trainer, TrainerConfig};

struct Mlp {
    l1: Linear,
    l2: Linear,
}

type Batch = (Tensor, Tensor);

impl Task<Batch> for Mlp {
    fn loss(&self, (x, y): &Batch, _: Mode) -> Result<Tensor> {
        let h = Activation::Tanh.apply(&self.l1.apply(x)?)?;
        seq_train::loss::mse(&self.l2.apply(&h)?, y)
    }

    fn size(&self, (x, _): &Batch) -> usize {
        x.dims()[0]
    }
}

/// 64 examples: inputs `[64, 3]`, targets `[64, 1]`.
fn examples() -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(11);
    let x: Vec<f64> = (0..64 * 3).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
    let y = x
        .chunks(3)
        .map(|v| (2.0 * v[0]).sin() * v[1] + v[2])
        .collect();
    (x, y)
}

/// Trains 3 epochs of global batches of 16 (drawn anew each epoch); this
/// rank takes its share of each. Returns every weight.
fn train(collective: Box<dyn Collective>, checkpoint: Option<std::path::PathBuf>) -> Vec<f64> {
    let (rank, world) = (collective.rank(), collective.world_size());
    // Each rank starts from other weights: rank 0's are broadcast.
    let p = Params::new(3 + rank as u64);
    let vb = p.var_builder(DType::F64, &Device::Cpu);
    let m = Mlp {
        l1: Linear::new(LinearConfig::new(3, 8), vb.pp("l1")).unwrap(),
        l2: Linear::new(LinearConfig::new(8, 1), vb.pp("l2")).unwrap(),
    };
    let (x, y) = examples();
    let source = Planned::new(
        |epoch: usize, seed: u64| {
            let mut rows: Vec<usize> = (0..64).collect();
            Rng::new(seed ^ epoch as u64).shuffle(&mut rows);
            Ok(rows
                .chunks(16)
                .map(|b| shard_rows(b, rank, world))
                .collect())
        },
        |rows: Vec<usize>| {
            let xs: Vec<f64> = rows
                .iter()
                .flat_map(|&r| x[3 * r..3 * r + 3].to_vec())
                .collect();
            let ys: Vec<f64> = rows.iter().map(|&r| y[r]).collect();
            Ok::<_, seq_train::Error>((
                Tensor::from_vec(xs, (rows.len(), 3), &Device::Cpu)?,
                Tensor::from_vec(ys, (rows.len(), 1), &Device::Cpu)?,
            ))
        },
    );
    let mut cfg = TrainerConfig::new(3);
    (cfg.quiet, cfg.seed, cfg.clip_norm, cfg.checkpoint) = (true, 5, Some(0.5), checkpoint);
    let opt = OptimizerConfig::Sgd {
        lr: 0.2,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.0,
    }
    .build(p.named_vars())
    .unwrap();
    let mut t = Trainer::new(cfg, p.clone(), opt);
    t.distribute(collective);
    t.fit(&m, &source, None).unwrap();
    p.named_vars()
        .iter()
        .flat_map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
        })
        .collect()
}

#[test]
fn two_ranks_train_as_one_process_on_the_whole_batches() {
    let mpi = Mpi::init().unwrap();
    let (rank, world) = (mpi.rank(), mpi.world_size());
    assert_eq!(world, 2, "run under `mpirun -np 2`");
    let dir = std::env::temp_dir().join(format!("seq-mpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = dir.join("ck.safetensors");
    // Each rank is given a checkpoint path of its own: only rank 0 writes.
    let ranks = train(Box::new(mpi), Some(ck.clone()));
    let single = train(Box::new(SingleProcess), None);
    let diff = ranks
        .iter()
        .zip(&single)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        diff < 1e-12,
        "rank {rank}: 2 ranks vs 1 process differ by {diff:e}"
    );
    assert_eq!(ck.exists(), rank == 0, "rank {rank}: only rank 0 writes");
}
