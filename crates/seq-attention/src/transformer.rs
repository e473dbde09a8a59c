//! Encoder and decoder stacks and the [`Transformer`], under the parameter
//! names of PyTorch's `nn.TransformerEncoder`, `nn.TransformerDecoder` and
//! `nn.Transformer`.

use std::fmt;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq_core::{Error, LayerNorm, LayerNormConfig, Mode, Module, Result, Seq};

use crate::layer::{DecoderCache, DecoderWeights};
use crate::{AttnMask, TransformerDecoderLayer, TransformerEncoderLayer, TransformerLayerConfig};

fn final_norm(c: &TransformerLayerConfig, yes: bool, vb: VarBuilder) -> Result<Option<LayerNorm>> {
    yes.then(|| {
        LayerNorm::new(
            LayerNormConfig::new(c.d_model)
                .with_eps(c.layer_norm_eps)
                .with_engine(c.engine),
            vb.pp("norm"),
        )
    })
    .transpose()
}

/// A stack of encoder layers (`layers.{i}.*`) and an optional final layer
/// norm (`norm.*`), PyTorch's `nn.TransformerEncoder`.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_attention::{SinusoidalEncoding, TransformerEncoder, TransformerLayerConfig};
/// use seq_core::{Mode, Module, Params, Seq};
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// // 2 pre-norm layers, 64 wide, 4 heads, a 128-wide feed-forward block.
/// let layer = TransformerLayerConfig::new(64, 4)
///     .with_feedforward(128)
///     .with_norm_first(true);
/// let encoder = TransformerEncoder::new(layer, 2, true, vb.pp("encoder"))?;
/// let positions = SinusoidalEncoding::new(512, 64, DType::F32, &Device::Cpu)?;
/// let x = Tensor::randn(0f32, 1.0, (3, 10, 64), &Device::Cpu)?;
/// let xs = Seq::new(positions.apply(&x, 0)?)?.with_lengths(&[10, 4, 7])?;
/// // As a seq Module, the mask is the key padding mask.
/// let ys = Module::forward(&encoder, &xs, Mode::Eval)?;
/// assert_eq!(ys.values().dims(), &[3, 10, 64]);
/// assert_eq!(ys.lengths()?, [10, 4, 7]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransformerEncoder {
    layers: Vec<TransformerEncoderLayer>,
    norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// `num_layers` layers of `config`, with a final norm if `final_norm`.
    pub fn new(
        config: TransformerLayerConfig,
        num_layers: usize,
        final_norm_: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|i| {
                let c = TransformerLayerConfig {
                    seed: config.seed.wrapping_add(1000 * i as u64),
                    ..config
                };
                TransformerEncoderLayer::new(c, vb.pp(format!("layers.{i}")))
            })
            .collect::<Result<_>>()?;
        Ok(TransformerEncoder {
            layers,
            norm: final_norm(&config, final_norm_, vb)?,
        })
    }

    /// Runs every layer on `x` `[batch, S, d]`.
    ///
    /// # Returns
    /// `[batch, S, d]`.
    pub fn forward(
        &self,
        x: &Tensor,
        key_padding_mask: Option<&Tensor>,
        mask: Option<&AttnMask>,
        mode: Mode,
    ) -> Result<Tensor> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, key_padding_mask, mask, mode)?;
        }
        self.final_norm(x)
    }

    /// [`forward`](Self::forward) with each layer's self-attention weights
    /// `[batch, heads, S, S]`.
    pub fn forward_with_weights(
        &self,
        x: &Tensor,
        key_padding_mask: Option<&Tensor>,
        mask: Option<&AttnMask>,
        mode: Mode,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let mut x = x.clone();
        let mut weights = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, w) = layer.forward_with_weights(&x, key_padding_mask, mask, mode)?;
            x = y;
            weights.push(w);
        }
        Ok((self.final_norm(x)?, weights))
    }

    fn final_norm(&self, x: Tensor) -> Result<Tensor> {
        match &self.norm {
            Some(norm) => norm.apply(&x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerEncoder {
    /// The `Seq`'s mask is the key padding mask.
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        let y = TransformerEncoder::forward(self, xs.values(), xs.mask(), None, mode)?;
        xs.with_values(y)
    }
}

/// A stack of decoder layers (`layers.{i}.*`) and an optional final layer
/// norm (`norm.*`), PyTorch's `nn.TransformerDecoder`.
#[derive(Debug)]
pub struct TransformerDecoder {
    layers: Vec<TransformerDecoderLayer>,
    norm: Option<LayerNorm>,
}

impl TransformerDecoder {
    /// `num_layers` layers of `config`, with a final norm if `final_norm`.
    pub fn new(
        config: TransformerLayerConfig,
        num_layers: usize,
        final_norm_: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|i| {
                let c = TransformerLayerConfig {
                    seed: config.seed.wrapping_add(1000 * i as u64 + 500),
                    ..config
                };
                TransformerDecoderLayer::new(c, vb.pp(format!("layers.{i}")))
            })
            .collect::<Result<_>>()?;
        Ok(TransformerDecoder {
            layers,
            norm: final_norm(&config, final_norm_, vb)?,
        })
    }

    /// Runs every layer on the target `x` `[batch, T, d]` over `memory`.
    ///
    /// # Returns
    /// `[batch, T, d]`.
    pub fn forward(
        &self,
        x: &Tensor,
        memory: &Tensor,
        tgt_mask: Option<&AttnMask>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(
                &x,
                memory,
                tgt_mask,
                tgt_key_padding_mask,
                memory_key_padding_mask,
                mode,
            )?;
        }
        self.final_norm(x)
    }

    /// [`forward`](Self::forward) with each layer's attention weights.
    pub fn forward_with_weights(
        &self,
        x: &Tensor,
        memory: &Tensor,
        tgt_mask: Option<&AttnMask>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<(Tensor, Vec<DecoderWeights>)> {
        let mut x = x.clone();
        let mut weights = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, w) = layer.forward_with_weights(
                &x,
                memory,
                tgt_mask,
                tgt_key_padding_mask,
                memory_key_padding_mask,
                mode,
            )?;
            x = y;
            weights.push(w);
        }
        Ok((self.final_norm(x)?, weights))
    }

    fn final_norm(&self, x: Tensor) -> Result<Tensor> {
        match &self.norm {
            Some(norm) => norm.apply(&x),
            None => Ok(x),
        }
    }

    /// Empty caches over `memory`, one per layer.
    pub fn cache(&self, memory: &Tensor) -> Result<Vec<DecoderCache>> {
        self.layers.iter().map(|l| l.cache(memory)).collect()
    }

    /// New target steps after those in `caches` (causal), in eval mode.
    pub fn forward_cached(
        &self,
        x: &Tensor,
        caches: &mut [DecoderCache],
        memory_key_padding_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Vec<DecoderWeights>)> {
        if caches.len() != self.layers.len() {
            return Err(Error::config(
                "TransformerDecoder",
                format!("{} caches for {} layers", caches.len(), self.layers.len()),
            ));
        }
        let mut x = x.clone();
        let mut weights = Vec::with_capacity(self.layers.len());
        for (layer, cache) in self.layers.iter().zip(caches.iter_mut()) {
            let (y, w) = layer.forward_cached(&x, cache, memory_key_padding_mask)?;
            x = y;
            weights.push(w);
        }
        Ok((self.final_norm(x)?, weights))
    }
}

/// The attention weights of every layer of a [`Transformer`], for heatmaps.
#[derive(Debug, Clone)]
pub struct TransformerWeights {
    /// Each encoder layer's self-attention `[batch, heads, S, S]`.
    pub encoder: Vec<Tensor>,
    /// Each decoder layer's self- and cross-attention.
    pub decoder: Vec<DecoderWeights>,
}

/// The sizes of a [`Transformer`]; PyTorch's defaults (6 + 6 layers).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TransformerConfig {
    /// Every layer's configuration.
    pub layer: TransformerLayerConfig,
    /// Encoder layers (default 6).
    pub num_encoder_layers: usize,
    /// Decoder layers (default 6).
    pub num_decoder_layers: usize,
}

impl TransformerConfig {
    /// `d_model` wide, `nhead` heads, 6 + 6 layers.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerConfig {
            layer: TransformerLayerConfig::new(d_model, nhead),
            num_encoder_layers: 6,
            num_decoder_layers: 6,
        }
    }

    /// With every layer configured as `layer` (default
    /// `TransformerLayerConfig::new(d_model, nhead)`).
    pub fn with_layer(mut self, layer: TransformerLayerConfig) -> Self {
        self.layer = layer;
        self
    }

    /// With layer counts (default 6 + 6).
    pub fn with_layers(mut self, encoder: usize, decoder: usize) -> Self {
        self.num_encoder_layers = encoder;
        self.num_decoder_layers = decoder;
        self
    }
}

/// The encoder-decoder of "Attention Is All You Need", PyTorch's
/// `nn.Transformer(batch_first=True)`: `encoder.layers.{i}.*`,
/// `encoder.norm.*`, `decoder.layers.{i}.*`, `decoder.norm.*`, so
/// `nn.Transformer` weights load as they are. Inputs are already embedded
/// (`[batch, S, d]`, `[batch, T, d]`); see
/// [`TransformerSeq2Seq`](crate::TransformerSeq2Seq) for token models.
#[derive(Debug)]
pub struct Transformer {
    /// The encoder stack.
    pub encoder: TransformerEncoder,
    /// The decoder stack.
    pub decoder: TransformerDecoder,
    config: TransformerConfig,
}

impl Transformer {
    /// Creates (or loads) both stacks under `vb`.
    pub fn new(config: TransformerConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Transformer {
            encoder: TransformerEncoder::new(
                config.layer,
                config.num_encoder_layers,
                true,
                vb.pp("encoder"),
            )?,
            decoder: TransformerDecoder::new(
                config.layer,
                config.num_decoder_layers,
                true,
                vb.pp("decoder"),
            )?,
            config,
        })
    }

    /// Encodes `src` `[batch, S, d]` and decodes `tgt` `[batch, T, d]` over it,
    /// the target causally masked.
    ///
    /// # Parameters
    /// - `src_key_padding_mask` `[batch, S]`, `tgt_key_padding_mask` `[batch, T]`: 1 real, 0 padding.
    ///
    /// # Returns
    /// The decoder's output `[batch, T, d]`.
    pub fn forward(
        &self,
        src: &Tensor,
        tgt: &Tensor,
        src_key_padding_mask: Option<&Tensor>,
        tgt_key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let memory = self
            .encoder
            .forward(src, src_key_padding_mask, None, mode)?;
        let causal = AttnMask::causal(tgt.dims()[1], 0, tgt.device())?;
        self.decoder.forward(
            tgt,
            &memory,
            Some(&causal),
            tgt_key_padding_mask,
            src_key_padding_mask,
            mode,
        )
    }

    /// [`forward`](Self::forward) with every layer's attention weights.
    pub fn forward_with_weights(
        &self,
        src: &Tensor,
        tgt: &Tensor,
        src_key_padding_mask: Option<&Tensor>,
        tgt_key_padding_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<(Tensor, TransformerWeights)> {
        let (memory, encoder) =
            self.encoder
                .forward_with_weights(src, src_key_padding_mask, None, mode)?;
        let causal = AttnMask::causal(tgt.dims()[1], 0, tgt.device())?;
        let (out, decoder) = self.decoder.forward_with_weights(
            tgt,
            &memory,
            Some(&causal),
            tgt_key_padding_mask,
            src_key_padding_mask,
            mode,
        )?;
        Ok((out, TransformerWeights { encoder, decoder }))
    }

    /// The configuration.
    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }
}

impl fmt::Display for Transformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        write!(
            f,
            "Transformer({}, layers={}+{})",
            c.layer, c.num_encoder_layers, c.num_decoder_layers
        )
    }
}

impl fmt::Display for TransformerEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layers.first() {
            Some(layer) => write!(f, "TransformerEncoder({} x {layer})", self.layers.len()),
            None => write!(f, "TransformerEncoder(no layers)"),
        }
    }
}

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for Transformer {
    type Config = TransformerConfig;
    const MODEL_TYPE: &'static str = "transformer";

    fn build(config: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        Transformer::new(*config, vb)
    }

    fn pretrained_config(&self) -> TransformerConfig {
        *self.config()
    }
}
