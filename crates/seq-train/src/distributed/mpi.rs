//! [`Collective`] over MPI's world communicator (the `mpi` crate over the
//! system's MPI library).

use super::Collective;
use crate::{Error, Result};

/// MPI's world communicator, through the `mpi` crate: `Mpi::init()` once
/// per process, then `Trainer::distribute(Box::new(mpi.clone()))` for each
/// trainer. MPI is finalised when the last clone is dropped.
#[derive(Clone)]
pub struct Mpi {
    universe: std::rc::Rc<::mpi::environment::Universe>,
}

impl Mpi {
    /// Initialises MPI (once per process; an error the second time).
    pub fn init() -> Result<Self> {
        let universe = ::mpi::initialize()
            .ok_or_else(|| Error::Config("MPI is already initialised in this process".into()))?;
        Ok(Mpi {
            universe: std::rc::Rc::new(universe),
        })
    }

    fn world(&self) -> ::mpi::topology::SimpleCommunicator {
        self.universe.world()
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        use ::mpi::topology::Communicator;
        self.world().rank() as usize
    }

    fn world_size(&self) -> usize {
        use ::mpi::topology::Communicator;
        self.world().size() as usize
    }

    fn all_reduce_sum(&self, buffer: &mut [f64]) -> Result<()> {
        use ::mpi::collective::{CommunicatorCollectives, SystemOperation};
        let send = buffer.to_vec();
        self.world()
            .all_reduce_into(&send[..], buffer, SystemOperation::sum());
        Ok(())
    }

    fn broadcast(&self, buffer: &mut [f64]) -> Result<()> {
        use ::mpi::collective::Root;
        use ::mpi::topology::Communicator;
        self.world().process_at_rank(0).broadcast_into(buffer);
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        use ::mpi::collective::CommunicatorCollectives;
        self.world().barrier();
        Ok(())
    }
}
