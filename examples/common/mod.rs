//! What the examples share: the command line, the text encoders, reports.
//! Each example includes this folder as `mod common` and uses part of it.
#![allow(dead_code)]

pub mod classifier;
pub mod cli;
pub mod corpora;
pub mod encoder;
pub mod naive_bayes;
pub mod report;
pub mod words;

/// Errors an example reports before exiting.
pub type Error = Box<dyn std::error::Error>;

/// Runs an example's `main`: an error is printed as `NAME: error` and the
/// process exits with status 1.
pub fn main(name: &str, run: impl FnOnce() -> Result<(), Error>) {
    if let Err(e) = run() {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
}
