//! The one [`Module`] trait that every seq layer implements, and [`Mode`].

use crate::{Result, Seq};

/// Whether a forward pass is training (dropout active) or evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Training: dropout drops.
    Train,
    /// Evaluation and inference: dropout is the identity.
    #[default]
    Eval,
}

impl Mode {
    /// True in [`Mode::Train`].
    pub fn is_train(self) -> bool {
        self == Mode::Train
    }
}

/// A layer of a sequence model: a batch of sequences in, a batch out.
///
/// The input and output are [`Seq`]s: values `[batch, time, features]` with
/// an optional padding mask `[batch, time]`. A layer that does not change
/// the time axis passes the mask on; one that does (strided convolution,
/// pooling, a many-to-one head) derives the new mask and documents how.
///
/// Layers with richer inputs or outputs (the state of a recurrent layer,
/// attention weights, decoder memory) expose them as inherent methods; this
/// trait is the common path that lets layers compose in a
/// [`Sequential`](crate::Sequential).
pub trait Module {
    /// Runs the layer on a batch of sequences.
    ///
    /// # Parameters
    /// - `xs`: values `[batch, time, in_features]` and optional mask `[batch, time]`.
    /// - `mode`: [`Mode::Train`] or [`Mode::Eval`].
    ///
    /// # Returns
    /// Values `[batch, time', out_features]` and the mask that fits them.
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq>;
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        (**self).forward(xs, mode)
    }
}

impl<M: Module + ?Sized> Module for &M {
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        (**self).forward(xs, mode)
    }
}
