//! The RNN topologies of the course, each a small documented API.
//!
//! | topology | example | how |
//! |---|---|---|
//! | one-to-one | a plain network | [`one_to_one`]: one input, one step, one output |
//! | one-to-many | music or text generation from one seed | [`generate`]: each output fed back as the next input |
//! | many-to-one | sentiment classification | a layer, then [`ManyToOne`] ([`Readout::Last`] real step, mean or max), or [`last_layer_state`] |
//! | many-to-many, equal lengths | tagging | a layer, then a per-step [`Linear`](seq_core::Linear): the layer's output has one row per step |
//! | many-to-many, unequal lengths | translation | [`Seq2Seq`]: an encoder passes its final state to a decoder, which may also attend to every encoder output ([`Score`]: additive or multiplicative); teacher forcing in training, greedy decoding at inference |

mod attention;
mod generate;
mod readout;
mod seq2seq;

pub use attention::Score;
pub use generate::{generate, one_to_one};
pub use readout::{last_layer_state, readout, ManyToOne, Readout};
pub use seq2seq::{Seq2Seq, Seq2SeqConfig};
