//! [`Collective`] over NVIDIA's NCCL, one GPU per process, through the
//! `cudarc` that candle's `cuda` feature builds on.
//!
//! The ranks meet through an [`NcclId`] that rank 0 makes and every other
//! rank must receive before it joins: [`Nccl::from_file`] passes it
//! through a file all ranks can read (a shared folder on a cluster),
//! [`Nccl::new`] takes it from whatever channel the caller has (MPI, a
//! launcher's key-value store). The gradients come to the collective as
//! one flat host buffer per step (the trainer's, see [`super`]); it goes to
//! the GPU, is summed there by one `ncclAllReduce`, and comes back.

use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::cuda_backend::cudarc;
use candle_core::Device;
use cudarc::driver::{CudaSlice, DriverError};
use cudarc::nccl::result::NcclError;
use cudarc::nccl::safe::{Comm, Id, ReduceOp};

use super::Collective;
use crate::{Error, Result};

/// The 128 bytes that name one NCCL communicator: made once, by rank 0,
/// and handed to every rank.
#[derive(Debug, Clone, Copy)]
pub struct NcclId(Id);

impl NcclId {
    /// A new id (on rank 0).
    pub fn new() -> Result<Self> {
        Ok(NcclId(Id::new().map_err(nccl_error("making an id"))?))
    }

    /// Its bytes, to send to the other ranks.
    pub fn to_bytes(&self) -> [u8; 128] {
        self.0.internal().map(|c| c as u8)
    }

    /// The id another rank sent as [`NcclId::to_bytes`].
    pub fn from_bytes(bytes: [u8; 128]) -> Self {
        NcclId(Id::uninit(bytes.map(|b| b as std::ffi::c_char)))
    }
}

/// An NCCL communicator of `world_size` processes, this one on one GPU.
/// `Trainer::distribute(Box::new(nccl))` trains with it; the model's
/// parameters live on the same GPU.
#[derive(Debug)]
pub struct Nccl {
    comm: Comm,
}

impl Nccl {
    /// Joins the communicator `id` as `rank` of `world_size`, on `device`
    /// (a CUDA device: `Device::new_cuda(ordinal)`). Returns when every
    /// rank has joined.
    pub fn new(device: &Device, rank: usize, world_size: usize, id: NcclId) -> Result<Self> {
        if rank >= world_size {
            return Err(Error::Config(format!(
                "NCCL: rank {rank} of a world of {world_size}"
            )));
        }
        let stream = device.as_cuda_device()?.cuda_stream();
        let comm = Comm::from_rank(stream, rank, world_size, id.0)
            .map_err(nccl_error("joining the communicator"))?;
        Ok(Nccl { comm })
    }

    /// [`Nccl::new`] with the id passed through the file `path`: rank 0
    /// makes it and writes it there (replacing the file whole), the other
    /// ranks wait up to `timeout` for the file to appear. Start each run
    /// with a path no earlier run used.
    pub fn from_file(
        device: &Device,
        rank: usize,
        world_size: usize,
        path: &Path,
        timeout: Duration,
    ) -> Result<Self> {
        let id = match rank {
            0 => {
                let id = NcclId::new()?;
                seq_core::fs::write_atomic(path, &id.to_bytes())?;
                id
            }
            _ => NcclId::from_bytes(wait_for_id(path, timeout)?),
        };
        Nccl::new(device, rank, world_size, id)
    }

    /// Runs the collective `op` on a copy of `buffer` on the GPU and copies
    /// the result back.
    fn on_device(
        &self,
        buffer: &mut [f64],
        what: &str,
        op: impl Fn(&Comm, &mut CudaSlice<f64>) -> std::result::Result<(), NcclError>,
    ) -> Result<()> {
        let stream = self.comm.stream();
        let cuda = |e: DriverError| Error::Config(format!("NCCL {what}: CUDA: {e}"));
        let mut on_gpu = stream.clone_htod(buffer).map_err(cuda)?;
        op(&self.comm, &mut on_gpu).map_err(nccl_error(what))?;
        stream.memcpy_dtoh(&on_gpu, buffer).map_err(cuda)?;
        stream.synchronize().map_err(cuda)?;
        Ok(())
    }
}

/// Rank 0's id from `path`, once the file is there and whole.
fn wait_for_id(path: &Path, timeout: Duration) -> Result<[u8; 128]> {
    let start = Instant::now();
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            return <[u8; 128]>::try_from(bytes.as_slice()).map_err(|_| {
                Error::Config(format!(
                    "NCCL id file {}: {} bytes, not 128",
                    path.display(),
                    bytes.len()
                ))
            });
        }
        if start.elapsed() > timeout {
            return Err(Error::Config(format!(
                "NCCL id file {}: not written by rank 0 within {timeout:?}",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nccl_error(what: &str) -> impl FnOnce(NcclError) -> Error + '_ {
    move |e| Error::Config(format!("NCCL {what}: {:?}", e.0))
}

impl Collective for Nccl {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    fn all_reduce_sum(&self, buffer: &mut [f64]) -> Result<()> {
        self.on_device(buffer, "all-reduce", |comm, b| {
            comm.all_reduce_in_place(b, &ReduceOp::Sum).map(drop)
        })
    }

    fn broadcast(&self, buffer: &mut [f64]) -> Result<()> {
        self.on_device(buffer, "broadcast", |comm, b| {
            comm.broadcast_in_place(b, 0).map(drop)
        })
    }

    fn barrier(&self) -> Result<()> {
        self.all_reduce_sum(&mut [0.0])
    }
}
