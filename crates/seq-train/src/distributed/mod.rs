//! Data-parallel training over the engines clusters run: every process
//! (rank) holds the whole model, trains on its share of each global batch,
//! and the ranks average their gradients with one all-reduce per step, so
//! every rank takes the identical optimiser step.
//!
//! [`Collective`] is the little the trainer needs: rank and world size,
//! an all-reduce sum of a flat buffer, a broadcast from rank 0, a barrier.
//! [`SingleProcess`] is the default (no cost); `Mpi` (feature `mpi`) runs
//! over the system's MPI library through the `mpi` crate, launched with
//! `mpirun -np N` or Slurm's `srun`; `Nccl` (feature `nccl`) runs over
//! NVIDIA's NCCL between GPUs, one GPU per process.
//!
//! What a rank trains on is its data source's business: each rank's source
//! yields its share of each global batch ([`shard_rows`] cuts one), drawn
//! from the same seed and epoch, so the global batch of a step is the same
//! whatever the number of ranks.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::{Error, Result};

#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
#[cfg(feature = "nccl")]
pub use self::nccl::{Nccl, NcclId};

/// The collective operations data-parallel training needs.
pub trait Collective {
    /// This process's rank, `0..world_size()`.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn world_size(&self) -> usize;
    /// Sums `buffer` element by element over the ranks, in place, on every rank.
    fn all_reduce_sum(&self, buffer: &mut [f64]) -> Result<()>;
    /// Rank 0's `buffer` on every rank.
    fn broadcast(&self, buffer: &mut [f64]) -> Result<()>;
    /// Waits until every rank has reached it.
    fn barrier(&self) -> Result<()>;
}

/// A shared communicator (one per process, used by several trainers).
impl<C: Collective + ?Sized> Collective for std::rc::Rc<C> {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn world_size(&self) -> usize {
        (**self).world_size()
    }
    fn all_reduce_sum(&self, buffer: &mut [f64]) -> Result<()> {
        (**self).all_reduce_sum(buffer)
    }
    fn broadcast(&self, buffer: &mut [f64]) -> Result<()> {
        (**self).broadcast(buffer)
    }
    fn barrier(&self) -> Result<()> {
        (**self).barrier()
    }
}

/// One process: rank 0 of 1, every operation a no-op.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}

/// Rank `rank`'s contiguous share of a global batch's `rows` among `world`
/// ranks (the shares differ in size by at most one row).
pub fn shard_rows<T: Clone>(rows: &[T], rank: usize, world: usize) -> Vec<T> {
    let world = world.max(1);
    let at = |r: usize| rows.len() * r / world;
    rows[at(rank.min(world))..at((rank + 1).min(world))].to_vec()
}

/// The tensors' values, flattened into one f64 buffer (the all-reduce's
/// single message per step).
pub(crate) fn flatten(tensors: &[Tensor]) -> Result<Vec<f64>> {
    let n: usize = tensors.iter().map(Tensor::elem_count).sum();
    let mut out = Vec::with_capacity(n);
    for t in tensors {
        out.extend(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?);
    }
    Ok(out)
}

/// `buffer` cut back into tensors shaped, typed and placed as `like`.
pub(crate) fn unflatten(buffer: &[f64], like: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut at = 0;
    like.iter()
        .map(|t| {
            let n = t.elem_count();
            let part = buffer
                .get(at..at + n)
                .ok_or_else(|| Error::Config("distributed: a buffer of the wrong size".into()))?;
            at += n;
            Ok(
                Tensor::from_slice(part, t.shape(), &candle_core::Device::Cpu)?
                    .to_dtype(t.dtype())?
                    .to_device(t.device())?,
            )
        })
        .collect()
}

/// Where each of this rank's micro-batches (of `sizes` rows) starts in its
/// global batch: the rows the lower ranks hold (one all-reduce of every
/// rank's sizes).
pub(crate) fn row_offsets(c: &dyn Collective, sizes: &[usize]) -> Result<Vec<u64>> {
    let (rank, world, k) = (c.rank(), c.world_size(), sizes.len());
    let mut all = vec![0.0; world * k];
    for (j, &n) in sizes.iter().enumerate() {
        all[rank * k + j] = n as f64;
    }
    c.all_reduce_sum(&mut all)?;
    Ok((0..k)
        .map(|j| (0..rank).map(|r| all[r * k + j] as u64).sum())
        .collect())
}

/// What a rank brings to a step's all-reduce besides its gradients.
pub(crate) struct Share {
    /// Its examples.
    pub examples: usize,
    /// Its loss summed over them.
    pub loss_sum: f64,
    /// Its loss was not finite, or its step failed.
    pub failed: bool,
}

/// Replaces `grads` of `vars` by their average over the ranks, each rank's
/// weighted by its examples, in one all-reduce that also carries each
/// rank's [`Share`] (and one failure flag per rank); returns the global
/// examples and loss sum, or an error (on every rank) naming the ranks
/// that failed.
pub(crate) fn average_gradients(
    c: &dyn Collective,
    grads: &mut GradStore,
    vars: &[&Var],
    local: Share,
) -> Result<(usize, f64)> {
    let parts: Vec<Tensor> = vars
        .iter()
        .map(|v| match (grads.get(v.as_tensor()), local.failed) {
            (Some(g), false) => Ok((g * local.examples as f64)?),
            _ => Ok(v.as_tensor().zeros_like()?),
        })
        .collect::<Result<_>>()?;
    let mut buffer = flatten(&parts)?;
    let n = buffer.len();
    buffer.extend(match local.failed {
        true => [0.0, 0.0],
        false => [local.examples as f64, local.loss_sum],
    });
    // Then a flag per rank: 1 where that rank failed.
    buffer.extend((0..c.world_size()).map(|r| f64::from(u8::from(local.failed && r == c.rank()))));
    c.all_reduce_sum(&mut buffer)?;
    let (examples, loss_sum) = (buffer[n], buffer[n + 1]);
    let failed: Vec<String> = (0..c.world_size())
        .filter(|r| buffer[n + 2 + r] > 0.0)
        .map(|r| r.to_string())
        .collect();
    if !failed.is_empty() {
        let ranks = if failed.len() == 1 { "rank" } else { "ranks" };
        return Err(Error::Config(format!(
            "the loss was not finite, or the step failed, on {ranks} {}; training stopped",
            failed.join(", ")
        )));
    }
    buffer.truncate(n);
    buffer.iter_mut().for_each(|g| *g /= examples.max(1.0));
    for (v, g) in vars.iter().zip(unflatten(&buffer, &parts)?) {
        grads.insert(v.as_tensor(), g);
    }
    Ok((examples as usize, loss_sum))
}

/// Gives every rank rank 0's values of `vars` (the start of training).
pub(crate) fn broadcast_vars(c: &dyn Collective, vars: &[(String, Var)]) -> Result<()> {
    if c.world_size() == 1 {
        return Ok(());
    }
    let tensors: Vec<Tensor> = vars.iter().map(|(_, v)| v.as_tensor().clone()).collect();
    let mut buffer = flatten(&tensors)?;
    c.broadcast(&mut buffer)?;
    for ((_, v), t) in vars.iter().zip(unflatten(&buffer, &tensors)?) {
        v.set(&t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_rows_once_in_order() {
        let rows: Vec<usize> = (0..10).collect();
        for world in 1..5 {
            let joined: Vec<usize> = (0..world)
                .flat_map(|r| shard_rows(&rows, r, world))
                .collect();
            assert_eq!(joined, rows, "{world} ranks");
        }
    }

    #[test]
    fn flatten_and_unflatten_round_trip() -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let a = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &dev)?;
        let b = Tensor::new(&[5f64], &dev)?;
        let flat = flatten(&[a.clone(), b.clone()])?;
        assert_eq!(flat, [1.0, 2.0, 3.0, 4.0, 5.0]);
        let back = unflatten(&flat, &[a.clone(), b])?;
        assert_eq!(back[0].to_vec2::<f32>()?, a.to_vec2::<f32>()?);
        assert_eq!(back[1].dtype(), DType::F64);
        Ok(())
    }
}
