//! `cargo xtask gradcheck` and `cargo xtask proptest`: the two cross-crate
//! suites in `tests/`, which a plain `cargo test` does not run.

use crate::step;

/// Finite-difference gradient checks of every layer, in f64 (`tests/gradcheck/`).
pub fn gradcheck() -> Result<(), String> {
    step::cargo(
        "gradcheck suite",
        &["test", "-p", "seq", "--test", "gradcheck"],
    )
}

/// Property tests of the mathematics (`tests/properties/`).
pub fn proptest() -> Result<(), String> {
    step::cargo(
        "property suite",
        &["test", "-p", "seq", "--test", "properties"],
    )
}
