//! The hardening suite: what a hostile or careless caller meets. Seq's
//! kernels leave the thread's floating-point mode as they found it, and
//! training gives the same bits on any number of threads.
//!
//! Part of the plain `cargo test` (and so of `cargo xtask check`).

mod empty;
mod float_mode;
mod sizes;
mod threads;
