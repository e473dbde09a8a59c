//! The property suite: the mathematics each layer must obey, on random
//! sizes and values (proptest).
//!
//! Run with `cargo xtask proptest` (a plain `cargo test` skips it).

mod attention;
mod conv;
mod core;
mod ctc;
mod recurrent;
mod support;
