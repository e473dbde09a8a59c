//! `cargo xtask bench`: the benchmarks, in release, each printing its
//! ratios against baselines measured in the same run.

use crate::step;

/// Runs every benchmark in `benches/`.
pub fn run() -> Result<(), String> {
    for bench in ["recurrent", "data"] {
        step::cargo(
            &format!("bench {bench}"),
            &["bench", "-p", "seq", "--bench", bench],
        )?;
    }
    Ok(())
}
