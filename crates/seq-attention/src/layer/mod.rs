//! [`TransformerEncoderLayer`] and [`TransformerDecoderLayer`]: PyTorch's
//! `nn.TransformerEncoderLayer` and `nn.TransformerDecoderLayer`
//! (batch-first). This file holds what both share: the configuration, the
//! feed-forward block and the residual connection.

mod decoder;
mod encoder;

pub use decoder::{DecoderCache, DecoderWeights, TransformerDecoderLayer};
pub use encoder::TransformerEncoderLayer;

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{
    Activation, Dropout, Engine, Error, LayerNorm, LayerNormConfig, Linear, LinearConfig, Mode,
    Result,
};

use crate::MultiHeadAttentionConfig;

/// The sizes and options of a Transformer layer; PyTorch's fields and defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TransformerLayerConfig {
    /// Model width `d_model`.
    pub d_model: usize,
    /// Attention heads.
    pub nhead: usize,
    /// Width of the feed-forward block (default 2048).
    pub dim_feedforward: usize,
    /// Dropout after attention, inside and after the feed-forward block (default 0.1).
    pub dropout: f64,
    /// The feed-forward activation: relu (default) or gelu.
    pub activation: Activation,
    /// LayerNorm's epsilon (default 1e-5).
    pub layer_norm_eps: f64,
    /// Pre-norm (normalise before each block) instead of the paper's
    /// post-norm (default false).
    pub norm_first: bool,
    /// Seed of the dropout masks (default 0).
    pub seed: u64,
    /// Fused CPU ops (attention, layer norm, activations) or the composed
    /// reference (default [`Engine::Fused`]).
    pub engine: Engine,
}

/// `d_model=.., heads=.., ff=.., pre-norm` (or `post-norm`): how the
/// layers and stacks print.
impl fmt::Display for TransformerLayerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let norm = if self.norm_first {
            "pre-norm"
        } else {
            "post-norm"
        };
        write!(
            f,
            "d_model={}, heads={}, ff={}, {norm}",
            self.d_model, self.nhead, self.dim_feedforward
        )
    }
}

impl TransformerLayerConfig {
    /// `d_model` wide with `nhead` heads and PyTorch's other defaults.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerLayerConfig {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            norm_first: false,
            seed: 0,
            engine: Engine::Fused,
        }
    }

    /// With the fused ops or the composed reference.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// With a feed-forward width.
    pub fn with_feedforward(mut self, width: usize) -> Self {
        self.dim_feedforward = width;
        self
    }

    /// With dropout `p`, masks drawn with `seed`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Self {
        self.dropout = p;
        self.seed = seed;
        self
    }

    /// With the feed-forward activation (relu or gelu).
    pub fn with_activation(mut self, g: Activation) -> Self {
        self.activation = g;
        self
    }

    /// Pre-norm instead of post-norm.
    pub fn with_norm_first(mut self, yes: bool) -> Self {
        self.norm_first = yes;
        self
    }

    fn attention(&self, salt: u64) -> MultiHeadAttentionConfig {
        MultiHeadAttentionConfig::new(self.d_model, self.nhead)
            .with_dropout(self.dropout, self.seed.wrapping_add(salt))
            .with_engine(self.engine)
    }

    fn norm(&self, vb: VarBuilder) -> Result<LayerNorm> {
        LayerNorm::new(
            LayerNormConfig::new(self.d_model)
                .with_eps(self.layer_norm_eps)
                .with_engine(self.engine),
            vb,
        )
    }
}

/// `linear2(dropout(g(linear1(x))))`, then dropout.
#[derive(Debug)]
struct FeedForward {
    linear1: Linear,
    linear2: Linear,
    activation: Activation,
    engine: Engine,
    inner: Dropout,
    outer: Dropout,
}

impl FeedForward {
    fn new(c: &TransformerLayerConfig, vb: &VarBuilder) -> Result<Self> {
        if !matches!(
            c.activation,
            Activation::Relu | Activation::Gelu | Activation::GeluTanh
        ) {
            return Err(Error::config(
                "Transformer layer",
                format!(
                    "activation must be relu, gelu or gelu-tanh, got {}",
                    c.activation
                ),
            ));
        }
        Ok(FeedForward {
            linear1: Linear::new(
                LinearConfig::new(c.d_model, c.dim_feedforward).with_engine(c.engine),
                vb.pp("linear1"),
            )?,
            linear2: Linear::new(
                LinearConfig::new(c.dim_feedforward, c.d_model).with_engine(c.engine),
                vb.pp("linear2"),
            )?,
            activation: c.activation,
            engine: c.engine,
            inner: Dropout::new(c.dropout, c.seed.wrapping_add(101))?,
            outer: Dropout::new(c.dropout, c.seed.wrapping_add(102))?,
        })
    }

    fn apply(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = match self.engine {
            Engine::Fused => self.linear1.apply_activation(x, self.activation)?,
            Engine::Composed => self.activation.apply(&self.linear1.apply(x)?)?,
        };
        let h = self.inner.apply(&h, mode)?; // [batch, T, ff]
        self.outer.apply(&self.linear2.apply(&h)?, mode)
    }
}

/// A residual block `x + f(x)` normalised after (post-norm, the paper's)
/// or before (pre-norm).
fn residual(
    x: &Tensor,
    norm: &LayerNorm,
    norm_first: bool,
    f: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if norm_first {
        Ok((x + f(&norm.apply(x)?)?)?)
    } else {
        norm.apply(&(x + f(x)?)?)
    }
}
