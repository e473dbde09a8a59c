//! The recurrent layers: cells unrolled over time, stacked, in one or both
//! directions, honouring padding masks.

#[macro_use]
mod macros {
    /// `Module`, `Recurrent` and `Display` for a layer wrapping a `Stack`.
    macro_rules! recurrent_layer {
        ($layer:ident) => {
            impl seq_core::Module for $layer {
                fn forward(
                    &self,
                    xs: &seq_core::Seq,
                    mode: seq_core::Mode,
                ) -> seq_core::Result<seq_core::Seq> {
                    Ok(self.stack.forward(xs, None, mode)?.0)
                }
            }

            impl $crate::Recurrent for $layer {
                fn forward_with_state(
                    &self,
                    xs: &seq_core::Seq,
                    initial: Option<&$crate::State>,
                    mode: seq_core::Mode,
                ) -> seq_core::Result<(seq_core::Seq, $crate::State)> {
                    self.stack.forward(xs, initial, mode)
                }

                fn config(&self) -> &$crate::RecurrentConfig {
                    &self.stack.config
                }
            }

            impl std::fmt::Display for $layer {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    let c = &self.stack.config;
                    write!(
                        f,
                        "{}({}, {}, layers={}",
                        stringify!($layer),
                        c.input_size,
                        c.hidden_size,
                        c.num_layers
                    )?;
                    if c.bidirectional {
                        write!(f, ", bidirectional")?;
                    }
                    if c.dropout > 0.0 {
                        write!(f, ", dropout={}", c.dropout)?;
                    }
                    write!(f, "; {} params)", self.stack.num_params())
                }
            }
        };
    }
    pub(crate) use recurrent_layer;
}

mod gru;
mod lstm;
mod rnn;
mod stack;

pub use gru::Gru;
pub use lstm::Lstm;
pub use rnn::Rnn;

use macros::recurrent_layer;

use candle_nn::VarBuilder;
use seq_core::{Activation, Mode, Module, Result, Seq};

use crate::State;

/// The sizes and options of an [`Rnn`], [`Lstm`] or [`Gru`] layer; the
/// fields and defaults of PyTorch's `nn.LSTM` (always batch-first).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecurrentConfig {
    /// Input features `I`.
    pub input_size: usize,
    /// Hidden units `H` per direction.
    pub hidden_size: usize,
    /// Stacked layers (default 1); layer `k > 0` reads layer `k - 1`'s output.
    pub num_layers: usize,
    /// Whether the cells have biases (default true).
    pub bias: bool,
    /// Run a second stack of cells from the end of each sequence back to its
    /// start and concatenate both outputs (default false).
    pub bidirectional: bool,
    /// Dropout on the outputs of each layer but the last, in training only
    /// (default 0).
    pub dropout: f64,
    /// Seed of the dropout masks (default 0).
    pub seed: u64,
    /// How the time loop runs (default [`Engine::Fused`]).
    pub engine: Engine,
}

/// How a recurrent layer runs its time loop: one custom op per layer and
/// direction with an explicit backward pass through time ([`Engine::Fused`],
/// on the CPU in f32 and f64), or the composed step-by-step reference.
pub use seq_core::Engine;

impl RecurrentConfig {
    /// One unidirectional layer from `input_size` to `hidden_size` features.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RecurrentConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            bidirectional: false,
            dropout: 0.0,
            seed: 0,
            engine: Engine::Fused,
        }
    }

    /// With the given time-loop engine.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// With `n` stacked layers.
    pub fn with_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }

    /// Bidirectional or not.
    pub fn with_bidirectional(mut self, yes: bool) -> Self {
        self.bidirectional = yes;
        self
    }

    /// With dropout `p` between layers, masks drawn with `seed`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Self {
        self.dropout = p;
        self.seed = seed;
        self
    }

    /// With or without biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// The output width: `directions * H`.
    pub fn output_size(&self) -> usize {
        self.directions() * self.hidden_size
    }
}

/// A recurrent layer: a [`Module`] whose state can be given and read.
pub trait Recurrent: Module + std::fmt::Display {
    /// Runs the layer from `initial` (zeros when `None`).
    ///
    /// # Parameters
    /// - `xs`: values `[batch, time, I]`, optional mask `[batch, time]`.
    /// - `initial`: `h` (and `c`) `[layers * directions, batch, H]`.
    ///
    /// # Returns
    /// - the outputs `[batch, time, directions * H]` (the last layer's `h` at
    ///   every step; zeros at padded steps), with the input's mask;
    /// - the final state `[layers * directions, batch, H]`, each sequence's
    ///   taken at its last real step (for the reverse direction: after its
    ///   first step), PyTorch's `h_n` (and `c_n`).
    fn forward_with_state(
        &self,
        xs: &Seq,
        initial: Option<&State>,
        mode: Mode,
    ) -> Result<(Seq, State)>;

    /// The layer's configuration.
    fn config(&self) -> &RecurrentConfig;
}

/// Which recurrent layer to build, for code that chooses at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CellKind {
    /// The Elman RNN with this `g1`.
    Rnn(Activation),
    /// The LSTM.
    Lstm,
    /// The GRU.
    Gru,
}

impl CellKind {
    /// Builds the layer of this kind.
    pub fn build(self, config: RecurrentConfig, vb: VarBuilder) -> Result<Box<dyn Recurrent>> {
        Ok(match self {
            CellKind::Rnn(g1) => Box::new(Rnn::new(config, g1, vb)?),
            CellKind::Lstm => Box::new(Lstm::new(config, vb)?),
            CellKind::Gru => Box::new(Gru::new(config, vb)?),
        })
    }
}
