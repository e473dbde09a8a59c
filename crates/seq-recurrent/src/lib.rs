//! seq-recurrent: recurrent networks as the classic course on sequence
//! models teaches them, complete enough for real use.
//!
//! - Cells, one time step each: [`RnnCell`] (Elman,
//!   `a<t> = g1(W_aa a<t-1> + W_ax x<t> + b_a)`, `y<t> = g2(W_ya a<t> + b_y)`),
//!   [`LstmCell`], [`GruCell`].
//! - Layers, PyTorch's `nn.RNN`, `nn.LSTM`, `nn.GRU` (batch-first):
//!   [`Rnn`], [`Lstm`], [`Gru`], any number of layers, bidirectional,
//!   dropout between layers, initial state in and final state out
//!   ([`Recurrent::forward_with_state`]), masks for padded batches.
//! - The RNN topologies of the course in [`topology`]: one-to-one,
//!   one-to-many, many-to-one, many-to-many with equal and with unequal
//!   lengths (encoder-decoder).
//!
//! Parameter names and gate orders are PyTorch's, so a state dict saved
//! with `safetensors.torch.save_file` loads without renaming.
//!
//! # Masks
//! A padded step (mask 0) changes neither the state nor the outputs a user
//! reads: the state is carried over it unchanged, the output there is zero,
//! the final state of each sequence is the one at its last real step, and
//! the reverse direction starts at each sequence's own last real step
//! (what PyTorch's packed sequences give).
//!
//! # Errors
//! Layers return [`seq_core::Error`] (the `Module` trait's error): a wrong
//! feature width, state or mask shape names the layer and both shapes. The
//! crate needs no error type of its own.
#![warn(missing_docs)]

pub mod cell;
mod fused;
mod layer;
mod state;
pub mod topology;

pub use cell::{Cell, CellConfig, GruCell, LstmCell, RnnCell, RnnCellConfig};
pub use layer::{CellKind, Engine, Gru, Lstm, Recurrent, RecurrentConfig, Rnn};
pub use state::State;

// Every layer is also a candle `Module` (evaluation mode).
seq_core::candle_module!(Lstm, Gru, Rnn, topology::ManyToOne);
