//! `cargo xtask mpi`: data-parallel training over MPI (feature `mpi` of
//! seq-train): clippy on the feature, then its test under `mpirun -np 2
//! --oversubscribe` (as root, `--allow-run-as-root`). Skipped, saying so,
//! where `mpirun` is not installed; `.ci/run` installs Open MPI. With
//! `--nccl` the same test trains over NCCL between GPUs (features
//! `mpi,nccl`, `SEQ_TEST_NCCL=1`), MPI launching the ranks.

use std::process::Command;

use crate::step;

/// Clippy and the two-rank test, over NCCL when `nccl`.
pub fn run(nccl: bool) -> Result<(), String> {
    if !step::installed("mpirun") {
        println!("==> mpi: skipped, `mpirun` is not installed (Debian: openmpi-bin libopenmpi-dev libclang-dev)");
        return Ok(());
    }
    step::cargo(
        "clippy (mpi)",
        &[
            "clippy",
            "-p",
            "seq-train",
            "-p",
            "seq",
            "--features",
            if nccl { "seq/mpi,seq/nccl" } else { "seq/mpi" },
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let exe = executable(
        &[
            "test",
            "-p",
            "seq-train",
            "--features",
            if nccl { "mpi,nccl" } else { "mpi" },
            "--test",
            "mpi",
            "--no-run",
        ],
        "mpi",
    )?;
    let mut cmd = mpirun();
    cmd.args(["-np", "2"]);
    if nccl {
        cmd.args(["-x", "SEQ_TEST_NCCL"]).env("SEQ_TEST_NCCL", "1");
    }
    cmd.arg(&exe).arg("--test-threads=1");
    let over = if nccl { "NCCL" } else { "MPI" };
    step::run(&format!("distributed test (2 ranks, {over})"), &mut cmd)
}

/// The distributed benchmark (`benches/distributed.rs`) under `mpirun -np
/// 1` and `-np 2`, one thread per rank. Skipped where mpirun is missing.
pub fn bench() -> Result<(), String> {
    if !step::installed("mpirun") {
        println!("==> bench distributed: skipped, `mpirun` is not installed");
        return Ok(());
    }
    let exe = executable(
        &[
            "bench",
            "-p",
            "seq",
            "--features",
            "mpi",
            "--bench",
            "distributed",
            "--no-run",
        ],
        "distributed",
    )?;
    for ranks in ["1", "2"] {
        let mut cmd = mpirun();
        cmd.args(["-np", ranks, "-x", "RAYON_NUM_THREADS"])
            .env("RAYON_NUM_THREADS", "1")
            .arg(&exe);
        step::run(&format!("bench distributed, {ranks} rank(s)"), &mut cmd)?;
    }
    Ok(())
}

/// `mpirun --oversubscribe` (and `--allow-run-as-root` as root), in the root.
fn mpirun() -> Command {
    let mut cmd = Command::new("mpirun");
    if is_root() {
        cmd.arg("--allow-run-as-root");
    }
    cmd.arg("--oversubscribe").current_dir(step::root());
    cmd
}

/// Builds the target `cargo <args>` names and returns its executable.
fn executable(args: &[&str], target: &str) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("==> build {target}");
    let out = Command::new(cargo)
        .args(args)
        .arg("--message-format=json")
        .current_dir(step::root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("building {target}: {e}"))?;
    if !out.status.success() {
        return Err(format!("building {target} failed ({})", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == target)
        .find_map(|m| m["executable"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("{target}'s executable was not reported"))
}

/// Whether `mpirun` runs here.
/// Whether this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
