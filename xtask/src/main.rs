//! `cargo xtask`: the project's automation, one file per task.
//!
//! ```text
//! cargo xtask check       fmt, clippy, tests, both suites, every example's smoke run
//! cargo xtask gradcheck   the finite-difference gradient-check suite (f64)
//! cargo xtask proptest    the property-test suite
//! cargo xtask mpi         data-parallel training over MPI, two ranks under mpirun
//! cargo xtask bench       the benchmarks (release), ratios against baselines in the same run
//! cargo xtask bench --torch   ... and PyTorch's, side by side
//! ```

mod bench;
mod check;
mod mpi;
mod step;
mod suites;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <check | gradcheck | proptest | mpi | bench [--torch]>

  check       fmt, clippy (warnings are errors), all tests, the gradient-check
              and property suites, and a smoke run of every example
  gradcheck   the finite-difference gradient-check suite
  proptest    the property-test suite
  mpi         data-parallel training over MPI: two ranks under mpirun
              (skipped where mpirun is not installed)
  bench       the benchmarks, in release, with ratios against baselines
              measured in the same run (results in target/bench/); with
              --torch also bench/torch_bench.py (PyTorch, from $SEQ_TORCH_PYTHON
              or python3) and a side-by-side table";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check") => check::run(),
        Some("gradcheck") => suites::gradcheck(),
        Some("proptest") => suites::proptest(),
        Some("mpi") => mpi::run(),
        Some("bench") => bench::run(args.iter().any(|a| a == "--torch")),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("unknown task {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
