//! Recurrent networks for seq: the Elman RNN, LSTM and GRU as the classic
//! course on sequence models teaches them.
//!
//! This crate will hold the cells (`RnnCell`, `LstmCell`, `GruCell`), the
//! layers built from them (`Rnn`, `Lstm`, `Gru`: stacked, bidirectional,
//! dropout between layers, masks for padded batches, state in and out in
//! PyTorch's shapes) and the RNN topologies of the course: one-to-one,
//! one-to-many, many-to-one, many-to-many with equal and unequal lengths.
//!
//! Status: not implemented yet; only `seq-core` is usable today.
#![warn(missing_docs)]
