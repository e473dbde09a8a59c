//! `cargo xtask mpi`: data-parallel training over MPI (feature `mpi` of
//! seq-train): clippy on the feature, then its test under `mpirun -np 2
//! --oversubscribe` (as root, `--allow-run-as-root`). Skipped, saying so,
//! where `mpirun` is not installed; `.ci/run` installs Open MPI.

use std::process::Command;

use crate::step;

/// Clippy and the two-rank test.
pub fn run() -> Result<(), String> {
    if Command::new("mpirun").arg("--version").output().is_err() {
        println!("==> mpi: skipped, `mpirun` is not installed (Debian: openmpi-bin libopenmpi-dev libclang-dev)");
        return Ok(());
    }
    step::cargo(
        "clippy (mpi)",
        &[
            "clippy",
            "-p",
            "seq-train",
            "--features",
            "mpi",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let exe = test_binary()?;
    let mut cmd = Command::new("mpirun");
    if is_root() {
        cmd.arg("--allow-run-as-root");
    }
    cmd.args(["--oversubscribe", "-np", "2"])
        .arg(&exe)
        .arg("--test-threads=1")
        .current_dir(step::root());
    step::run("mpi test (2 ranks)", &mut cmd)
}

/// Builds seq-train's `mpi` test and returns its executable.
fn test_binary() -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("==> build the mpi test");
    let out = Command::new(cargo)
        .args([
            "test",
            "-p",
            "seq-train",
            "--features",
            "mpi",
            "--test",
            "mpi",
            "--no-run",
        ])
        .arg("--message-format=json")
        .current_dir(step::root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("building the mpi test: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the mpi test failed ({})", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "mpi")
        .find_map(|m| m["executable"].as_str().map(str::to_owned))
        .ok_or_else(|| "the mpi test's executable was not reported".into())
}

/// Whether this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
