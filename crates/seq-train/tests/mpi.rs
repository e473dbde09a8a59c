//! Data-parallel training over MPI, run by `cargo xtask check` as
//! `mpirun -np 2` of this test (feature `mpi`): two ranks, each on its half
//! of every global batch, end with the weights one process gets on the
//! whole batches (an MLP with momentum and clipping; an LSTM classifier
//! with dropout and clipping over 20 steps); only rank 0 writes the
//! checkpoint; a rank that fails stops both, and one process resumes from
//! the last checkpoint the two wrote, repeating the uninterrupted losses.
//!
//! Built with the feature `nccl` too and run with `SEQ_TEST_NCCL=1` (`cargo
//! xtask mpi --nccl`, on a machine with CUDA GPUs), the same test trains
//! over NCCL instead, each rank on GPU `rank % GPUs`; MPI then only
//! launches the ranks and hands rank 0's NCCL id to the other.
#![cfg(feature = "mpi")]

use candle_core::{DType, Device, Tensor};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use seq_core::testing::param_values;
use seq_core::{
    Activation, Dropout, Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Module, Params,
    Result, Rng, Seq,
};
use seq_recurrent::{Lstm, RecurrentConfig};
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
/// The plan of every epoch: `total` rows shuffled from the seed and the
/// epoch, cut into global batches of `batch`, of which this rank keeps its
/// share.
fn plan(
    total: usize,
    batch: usize,
    rank: usize,
    world: usize,
) -> impl Fn(usize, u64) -> seq_train::Result<Vec<Vec<usize>>> {
    move |epoch, seed| {
        let mut rows: Vec<usize> = (0..total).collect();
        Rng::new(seed ^ epoch as u64).shuffle(&mut rows);
        Ok(rows
            .chunks(batch)
            .map(|b| shard_rows(b, rank, world))
            .collect())
    }
}

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
    let source = Planned::new(plan(64, 16, rank, world), |rows: Vec<usize>| {
        let xs: Vec<f64> = rows
            .iter()
            .flat_map(|&r| x[3 * r..3 * r + 3].to_vec())
            .collect();
        let ys: Vec<f64> = rows.iter().map(|&r| y[r]).collect();
        Ok::<_, seq_train::Error>((
            Tensor::from_vec(xs, (rows.len(), 3), &Device::Cpu)?,
            Tensor::from_vec(ys, (rows.len(), 1), &Device::Cpu)?,
        ))
    });
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
    param_values(&p).unwrap()
}

/// Token ids `[batch, 12]` and classes `[batch]`.
type Text = (Tensor, Tensor);

/// Embeddings, dropout, an LSTM averaged over time, a linear head; its loss
/// fails at call `fail_at` (counting from 0) when set.
struct Classifier {
    embedding: Embedding,
    dropout: Dropout,
    lstm: Lstm,
    head: Linear,
    fail_at: Option<usize>,
    calls: Cell<usize>,
}

impl Task<Text> for Classifier {
    fn loss(&self, (ids, y): &Text, mode: Mode) -> Result<Tensor> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if self.fail_at == Some(n) {
            return Err(seq_core::Error::config("test", "this rank fails here"));
        }
        let x = self.dropout.apply(&self.embedding.apply(ids)?, mode)?;
        let h = self.lstm.forward(&Seq::new(x)?, mode)?.values().mean(1)?;
        seq_train::loss::cross_entropy(&self.head.apply(&h)?, y, None, 0.0)
    }

    fn size(&self, (ids, _): &Text) -> usize {
        ids.dims()[0]
    }
}

/// 640 texts of 12 ids; the class is whether id 3 occurs.
fn texts() -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng::new(21);
    let ids: Vec<u32> = (0..640 * 12).map(|_| rng.below(20) as u32).collect();
    let y = ids.chunks(12).map(|t| u32::from(t.contains(&3))).collect();
    (ids, y)
}

/// The LSTM classifier trained on global batches of 32 (this rank's share
/// of each), 20 steps; returns its weights and the loss of every step.
fn train_lstm(
    collective: Box<dyn Collective>,
    dtype: DType,
    fail_at: Option<usize>,
    checkpoint: Option<&std::path::Path>,
    resume: bool,
) -> (Vec<f64>, Vec<f64>, seq_train::Result<()>) {
    let (rank, world) = (collective.rank(), collective.world_size());
    let p = Params::new(8 + rank as u64);
    let vb = p.var_builder(dtype, &Device::Cpu);
    let m = Classifier {
        embedding: Embedding::new(EmbeddingConfig::new(20, 8), vb.pp("embedding")).unwrap(),
        dropout: Dropout::new(0.3, 2).unwrap(),
        lstm: Lstm::new(RecurrentConfig::new(8, 16), vb.pp("lstm")).unwrap(),
        head: Linear::new(LinearConfig::new(16, 2), vb.pp("head")).unwrap(),
        fail_at,
        calls: Cell::new(0),
    };
    let (ids, y) = texts();
    let source = Planned::new(plan(640, 32, rank, world), |rows: Vec<usize>| {
        let xs: Vec<u32> = rows
            .iter()
            .flat_map(|&r| ids[12 * r..12 * r + 12].to_vec())
            .collect();
        let ys: Vec<u32> = rows.iter().map(|&r| y[r]).collect();
        Ok::<_, seq_train::Error>((
            Tensor::from_vec(xs, (rows.len(), 12), &Device::Cpu)?,
            Tensor::from_vec(ys, rows.len(), &Device::Cpu)?,
        ))
    });
    let mut cfg = TrainerConfig::new(1);
    (cfg.quiet, cfg.seed, cfg.clip_norm) = (true, 9, Some(1.0));
    cfg.checkpoint = checkpoint.map(|p| p.to_path_buf());
    cfg.checkpoint_every = Some(1);
    let opt = OptimizerConfig::adam(0.01).build(p.named_vars()).unwrap();
    let mut t = Trainer::new(cfg, p.clone(), opt);
    t.distribute(collective);
    if resume {
        t.resume(checkpoint.unwrap()).unwrap();
    }
    let losses = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = losses.clone();
    t.on_step(move |e| sink.borrow_mut().push(e.loss));
    let result = t.fit(&m, &source, None).map(|_| ());
    let weights = param_values(&p).unwrap();
    let out = losses.borrow().clone();
    (weights, out, result)
}

/// The collective under test: MPI's, or NCCL's with `SEQ_TEST_NCCL` set
/// (feature `nccl`).
fn under_test(mpi: &Mpi) -> Rc<dyn Collective> {
    #[cfg(feature = "nccl")]
    if std::env::var_os("SEQ_TEST_NCCL").is_some() {
        return Rc::new(nccl(mpi));
    }
    Rc::new(mpi.clone())
}

/// NCCL on GPU `rank % GPUs`, rank 0's id sent to the other over MPI.
#[cfg(feature = "nccl")]
fn nccl(mpi: &Mpi) -> seq_train::distributed::Nccl {
    use seq_train::distributed::{Nccl, NcclId};
    let mut id = vec![0.0; 128];
    if mpi.rank() == 0 {
        id = NcclId::new().unwrap().to_bytes().map(f64::from).to_vec();
    }
    mpi.broadcast(&mut id).unwrap();
    let id = NcclId::from_bytes(std::array::from_fn(|k| id[k] as u8));
    let gpus = candle_core::cuda_backend::cudarc::driver::CudaContext::device_count().unwrap();
    let device = Device::new_cuda(mpi.rank() % gpus.max(1) as usize).unwrap();
    Nccl::new(&device, mpi.rank(), mpi.world_size(), id).unwrap()
}

#[test]
fn two_ranks_train_as_one_process_on_the_whole_batches() {
    let mpi = Mpi::init().unwrap();
    let (rank, world) = (mpi.rank(), mpi.world_size());
    let ranks = under_test(&mpi);
    assert_eq!(world, 2, "run under `mpirun -np 2`");
    let dir = std::env::temp_dir().join(format!("seq-mpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = dir.join("ck.safetensors");
    // Each rank is given a checkpoint path of its own: only rank 0 writes.
    let weights = train(Box::new(ranks.clone()), Some(ck.clone()));
    let single = train(Box::new(SingleProcess), None);
    let diff = weights
        .iter()
        .zip(&single)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        diff < 1e-12,
        "rank {rank}: 2 ranks vs 1 process differ by {diff:e}"
    );
    assert_eq!(ck.exists(), rank == 0, "rank {rank}: only rank 0 writes");

    // The LSTM classifier with dropout and clipping, 20 steps of 32: f64
    // to 1e-12, f32 to 1e-5 of the largest weight.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        let (weights, _, result) = train_lstm(Box::new(ranks.clone()), dtype, None, None, false);
        result.unwrap();
        let (single, _, _) = train_lstm(Box::new(SingleProcess), dtype, None, None, false);
        let diff = weights
            .iter()
            .zip(&single)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let scale = match dtype {
            DType::F32 => single.iter().fold(0.0f64, |m, v| m.max(v.abs())),
            _ => 1.0,
        };
        assert!(
            diff < tol * scale,
            "rank {rank}: LSTM {dtype:?}, 2 ranks vs 1 process differ by {diff:e}"
        );
    }
    let (_, whole, _) = train_lstm(Box::new(SingleProcess), DType::F64, None, None, false);
    assert_eq!(whole.len(), 20);

    // Rank 1 fails in step 5: both ranks stop with an error, at once.
    let ck = dir.join("lstm.safetensors");
    let start = Instant::now();
    let fail_at = (rank == 1).then_some(5);
    let (_, _, result) = train_lstm(
        Box::new(ranks.clone()),
        DType::F64,
        fail_at,
        Some(&ck),
        false,
    );
    let err = result.expect_err("both ranks stop").to_string();
    assert!(
        start.elapsed().as_secs() < 60,
        "rank {rank} took too long to stop"
    );
    match rank {
        1 => assert!(err.contains("this rank fails here"), "{err}"),
        _ => assert!(err.contains("on rank 1;"), "{err}"),
    }
    if rank == 0 {
        // The checkpoint after step 4, written by the two ranks, resumed by
        // one process on the whole batches: the uninterrupted losses.
        let state = seq_train::checkpoint::Checkpoint::load(&ck)
            .unwrap()
            .state()
            .unwrap();
        assert_eq!(state.step, 5);
        let (_, rest, result) =
            train_lstm(Box::new(SingleProcess), DType::F64, None, Some(&ck), true);
        result.unwrap();
        assert_eq!(rest.len(), 15);
        for (k, (a, b)) in rest.iter().zip(&whole[5..]).enumerate() {
            assert!(
                (a - b).abs() < 1e-10 * b.abs(),
                "step {}: {a} vs {b}",
                k + 5
            );
        }
    }
}
