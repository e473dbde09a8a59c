//! [`TemporalBlock`]: the residual block of dilated causal convolutions of
//! temporal convolutional networks (Bai, Kolter & Koltun, 2018), after
//! WaveNet (van den Oord et al., 2016).

use std::fmt;

use candle_nn::VarBuilder;
use seq_core::{Dropout, Mode, Module, Result, Seq};

use crate::{Conv1d, Conv1dConfig, Padding};

/// The sizes of a [`TemporalBlock`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TemporalBlockConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Taps of both convolutions (default 3).
    pub kernel_size: usize,
    /// Dilation of both convolutions; stack blocks with 1, 2, 4, ... to see
    /// `2^n` steps back.
    pub dilation: usize,
    /// Dropout after each convolution, in training (default 0).
    pub dropout: f64,
    /// Seed of the dropout masks (default 0).
    pub seed: u64,
}

impl TemporalBlockConfig {
    /// A block from `in_channels` to `out_channels` with dilation `dilation`.
    pub fn new(in_channels: usize, out_channels: usize, dilation: usize) -> Self {
        TemporalBlockConfig {
            in_channels,
            out_channels,
            kernel_size: 3,
            dilation,
            dropout: 0.0,
            seed: 0,
        }
    }

    /// With dropout `p`, masks drawn with `seed`.
    pub fn with_dropout(mut self, p: f64, seed: u64) -> Self {
        self.dropout = p;
        self.seed = seed;
        self
    }
}

/// Two dilated causal convolutions with a residual connection:
///
/// ```text
/// h = dropout(relu(conv1(x)))        conv1, conv2: causal, dilation d
/// h = dropout(relu(conv2(h)))
/// y = relu(h + downsample(x))        downsample: 1x1 conv when the widths differ, else identity
/// ```
///
/// Output `t` depends only on inputs at or before `t`; the receptive field
/// is `1 + 2 (K - 1) d` steps. Parameters: `conv1.*`, `conv2.*` and
/// `downsample.*` in `Conv1d`'s PyTorch layout.
#[derive(Debug)]
pub struct TemporalBlock {
    conv1: Conv1d,
    conv2: Conv1d,
    downsample: Option<Conv1d>,
    dropout: Dropout,
    config: TemporalBlockConfig,
}

impl TemporalBlock {
    /// Creates (or loads) the block's convolutions under `vb`.
    pub fn new(config: TemporalBlockConfig, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let causal = |i, o| {
            Conv1dConfig::new(i, o, c.kernel_size)
                .with_dilation(c.dilation)
                .with_padding(Padding::Causal)
        };
        let downsample = match c.in_channels != c.out_channels {
            true => Some(Conv1d::new(
                Conv1dConfig::new(c.in_channels, c.out_channels, 1),
                vb.pp("downsample"),
            )?),
            false => None,
        };
        Ok(TemporalBlock {
            conv1: Conv1d::new(causal(c.in_channels, c.out_channels), vb.pp("conv1"))?,
            conv2: Conv1d::new(causal(c.out_channels, c.out_channels), vb.pp("conv2"))?,
            downsample,
            dropout: Dropout::new(c.dropout, c.seed)?,
            config,
        })
    }

    /// Steps of input that one output sees: `1 + 2 (K - 1) d`.
    pub fn receptive_field(&self) -> usize {
        1 + 2 * (self.config.kernel_size - 1) * self.config.dilation
    }
}

impl Module for TemporalBlock {
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        let h = self.conv1.forward(xs, mode)?;
        let h = self
            .dropout
            .forward(&h.with_values(h.values().relu()?)?, mode)?;
        let h = self.conv2.forward(&h, mode)?;
        let h = self.dropout.apply(&h.values().relu()?, mode)?;
        let residual = match &self.downsample {
            Some(conv) => conv.forward(xs, mode)?.into_parts().0,
            None => xs.values().clone(),
        };
        xs.with_values((h + residual)?.relu()?)
    }
}

impl fmt::Display for TemporalBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        write!(
            f,
            "TemporalBlock({}, {}, kernel={}, dilation={}, receptive field {})",
            c.in_channels,
            c.out_channels,
            c.kernel_size,
            c.dilation,
            self.receptive_field()
        )
    }
}
