//! `cargo xtask`: the project's automation, one file per task.
//!
//! ```text
//! cargo xtask check       fmt, clippy, tests, both suites, every example's smoke run
//! cargo xtask gradcheck   the finite-difference gradient-check suite (f64)
//! cargo xtask proptest    the property-test suite
//! cargo xtask mpi         data-parallel training over MPI, two ranks under mpirun
//! cargo xtask mpi --nccl  ... the same test over NCCL between GPUs (CUDA and NCCL needed)
//! cargo xtask publish     cargo publish --workspace --dry-run --no-verify (every crate packed)
//! cargo xtask publish --verify   ... and every packed crate built
//! cargo xtask bench       the benchmarks (release), ratios against baselines in the same run
//! cargo xtask bench --torch   ... and PyTorch's, side by side
//! ```

mod bench;
mod check;
mod mpi;
mod publish;
mod step;
mod suites;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The project's automation.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// fmt, clippy (warnings are errors), all tests, the gradient-check and
    /// property suites, the MPI test, a smoke run of every example and the
    /// publish dry run.
    Check,
    /// The finite-difference gradient-check suite.
    Gradcheck,
    /// The property-test suite.
    Proptest,
    /// Data-parallel training over MPI: two ranks under mpirun (skipped
    /// where mpirun is not installed).
    Mpi {
        /// Train over NCCL between GPUs instead, MPI launching the ranks
        /// (features `mpi,nccl`: a CUDA toolkit and NCCL to build, GPUs
        /// to run).
        #[arg(long)]
        nccl: bool,
    },
    /// `cargo publish --workspace --dry-run`: every crate packed as
    /// crates.io would receive it.
    Publish {
        /// Also build every packed crate (about 9 minutes on 2 cores).
        #[arg(long)]
        verify: bool,
    },
    /// The benchmarks, in release, with ratios against baselines measured
    /// in the same run (results in target/bench/).
    Bench {
        /// Also bench/torch_bench.py (PyTorch, from $SEQ_TORCH_PYTHON or
        /// python3) and a side-by-side table.
        #[arg(long)]
        torch: bool,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Check => check::run(),
        Task::Gradcheck => suites::gradcheck(),
        Task::Proptest => suites::proptest(),
        Task::Mpi { nccl } => mpi::run(nccl),
        Task::Publish { verify } => publish::run(verify),
        Task::Bench { torch } => bench::run(torch),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
