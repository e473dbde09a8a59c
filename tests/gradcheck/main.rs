//! The gradient-check suite: every layer's gradients, with respect to its
//! inputs and every parameter, against central finite differences in f64.
//!
//! Run with `cargo xtask gradcheck` (a plain `cargo test` skips it).

mod attention;
mod conv;
mod core;
mod ctc;
mod recurrent;
mod support;
