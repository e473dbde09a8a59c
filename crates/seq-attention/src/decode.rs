//! [`TransformerSeq2Seq`]: a token-to-token Transformer (translation) with
//! autoregressive decoding, greedy and beam search, over a key/value cache.

use candle_core::{DType, Tensor, D};
use candle_nn::VarBuilder;
use seq_core::{Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Module, Result, Seq};

use seq_core::beam::{beam_search, repeat_rows, BeamDecoder};

use crate::layer::DecoderCache;
use crate::transformer::TransformerWeights;
use crate::{AttnMask, SinusoidalEncoding, Transformer, TransformerConfig};

/// The sizes of a [`TransformerSeq2Seq`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TransformerSeq2SeqConfig {
    /// Source vocabulary (id 0 is padding).
    pub src_vocab: usize,
    /// Target vocabulary (id 0 is padding).
    pub tgt_vocab: usize,
    /// The Transformer.
    pub transformer: TransformerConfig,
    /// The longest sequence the positional encoding covers (default 512).
    pub max_len: usize,
}

impl TransformerSeq2SeqConfig {
    /// A model between vocabularies of `src_vocab` and `tgt_vocab` ids
    /// around `transformer`, positions up to 512.
    pub fn new(src_vocab: usize, tgt_vocab: usize, transformer: TransformerConfig) -> Self {
        TransformerSeq2SeqConfig {
            src_vocab,
            tgt_vocab,
            transformer,
            max_len: 512,
        }
    }

    /// With positions up to `max_len` (default 512).
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }
}

pub use seq_core::beam::{BeamConfig, Hypothesis};

/// Embeddings plus sinusoidal positions, a [`Transformer`], and a linear
/// generator to target logits (Vaswani et al., 2017). The embeddings start
/// as `N(0, 1)`, on the scale of the positional encoding, so they are not
/// multiplied by `sqrt(d_model)` as the paper's `N(0, 1/d_model)` ones are. Parameters: `src_embedding.weight`, `tgt_embedding.weight`,
/// `transformer.*` (`nn.Transformer` names), `generator.*`.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_attention::{
///     BeamConfig, TransformerConfig, TransformerSeq2Seq, TransformerSeq2SeqConfig,
/// };
/// use seq_core::{Mode, Params};
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// // Vocabularies of 100 and 120 ids (0 is padding), 1 + 1 layers 32 wide.
/// let transformer = TransformerConfig::new(32, 4).with_layers(1, 1);
/// let config = TransformerSeq2SeqConfig::new(100, 120, transformer);
/// let model = TransformerSeq2Seq::new(config, vb.pp("model"))?;
/// let src = Tensor::new(&[[5u32, 6, 7, 0], [8, 9, 10, 11]], &Device::Cpu)?; // [batch, S]
/// let tgt_in = Tensor::new(&[[2u32, 12, 13], [2, 14, 0]], &Device::Cpu)?; // [batch, T]
/// // Teacher forcing: next-token logits for every target position.
/// let logits = model.forward(&src, &tgt_in, Mode::Train)?;
/// assert_eq!(logits.dims(), &[2, 3, 120]);
/// // Decoding: greedy (cached keys and values) and beam search, from id 2 to id 3.
/// let greedy = model.greedy(&src, 2, 3, 5, true)?;
/// assert!(greedy.iter().all(|h| h.tokens.len() <= 5));
/// let beams = model.beam(&src.narrow(0, 0, 1)?, &BeamConfig::new(2, 3, 5, 4))?;
/// assert!(beams[0].score <= 0.0); // a log-probability
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransformerSeq2Seq {
    src_embedding: Embedding,
    tgt_embedding: Embedding,
    positions: SinusoidalEncoding,
    transformer: Transformer,
    generator: Linear,
    config: TransformerSeq2SeqConfig,
}

impl TransformerSeq2Seq {
    /// Creates (or loads) every tensor under `vb`.
    pub fn new(config: TransformerSeq2SeqConfig, vb: VarBuilder) -> Result<Self> {
        let d = config.transformer.layer.d_model;
        Ok(TransformerSeq2Seq {
            src_embedding: Embedding::new(
                EmbeddingConfig::new(config.src_vocab, d).with_padding_idx(0),
                vb.pp("src_embedding"),
            )?,
            tgt_embedding: Embedding::new(
                EmbeddingConfig::new(config.tgt_vocab, d).with_padding_idx(0),
                vb.pp("tgt_embedding"),
            )?,
            positions: SinusoidalEncoding::new(config.max_len, d, vb.dtype(), vb.device())?,
            transformer: Transformer::new(config.transformer, vb.pp("transformer"))?,
            generator: Linear::new(LinearConfig::new(d, config.tgt_vocab), vb.pp("generator"))?,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransformerSeq2SeqConfig {
        &self.config
    }

    /// Embedded ids `[batch, T]` at positions `offset..`, and their mask.
    fn embed(
        &self,
        embedding: &Embedding,
        ids: &Tensor,
        offset: usize,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let xs = embedding.forward(&Seq::from_ids(ids.clone())?, Mode::Eval)?;
        let (x, mask) = xs.into_parts();
        Ok((self.positions.apply(&x, offset)?, mask))
    }

    /// The encoder's memory `[batch, S, d]` and source padding mask `[batch, S]`.
    pub fn encode(&self, src: &Tensor, mode: Mode) -> Result<(Tensor, Option<Tensor>)> {
        let (x, mask) = self.embed(&self.src_embedding, src, 0)?;
        let memory = self
            .transformer
            .encoder
            .forward(&x, mask.as_ref(), None, mode)?;
        Ok((memory, mask))
    }

    /// Teacher forcing: logits `[batch, T, tgt_vocab]` for decoder inputs
    /// `tgt_in` `[batch, T]` (start token, then the target shifted right).
    pub fn forward(&self, src: &Tensor, tgt_in: &Tensor, mode: Mode) -> Result<Tensor> {
        let (x, src_mask) = self.embed(&self.src_embedding, src, 0)?;
        let (y, tgt_mask) = self.embed(&self.tgt_embedding, tgt_in, 0)?;
        let h = self
            .transformer
            .forward(&x, &y, src_mask.as_ref(), tgt_mask.as_ref(), mode)?;
        self.generator.apply(&h)
    }

    /// [`forward`](Self::forward) and every layer's attention weights (the
    /// decoder's cross-attention is the heatmap of which source words each
    /// target word looks at).
    pub fn forward_with_weights(
        &self,
        src: &Tensor,
        tgt_in: &Tensor,
        mode: Mode,
    ) -> Result<(Tensor, TransformerWeights)> {
        let (x, src_mask) = self.embed(&self.src_embedding, src, 0)?;
        let (y, tgt_mask) = self.embed(&self.tgt_embedding, tgt_in, 0)?;
        let (h, weights) = self.transformer.forward_with_weights(
            &x,
            &y,
            src_mask.as_ref(),
            tgt_mask.as_ref(),
            mode,
        )?;
        Ok((self.generator.apply(&h)?, weights))
    }

    /// Log-probabilities `[rows, vocab]` of the next token after `tokens`
    /// `[rows]` at position `pos`, extending `caches`.
    fn step(
        &self,
        caches: &mut [DecoderCache],
        tokens: &[u32],
        pos: usize,
        src_mask: Option<&Tensor>,
    ) -> Result<Vec<Vec<f32>>> {
        let dev = self.generator.weight().device();
        let ids = Tensor::from_vec(tokens.to_vec(), (tokens.len(), 1), dev)?;
        let (y, _) = self.embed(&self.tgt_embedding, &ids, pos)?;
        let (h, _) = self
            .transformer
            .decoder
            .forward_cached(&y, caches, src_mask)?;
        let logits = self.generator.apply(&h.squeeze(1)?)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?
            .to_dtype(DType::F32)?
            .to_vec2()?)
    }

    /// The same log-probabilities recomputed from the whole prefix
    /// `[rows, pos + 1]`, no cache: the reference the cache is tested against.
    fn step_recompute(
        &self,
        memory: &Tensor,
        prefix: &[Vec<u32>],
        src_mask: Option<&Tensor>,
    ) -> Result<Vec<Vec<f32>>> {
        let dev = memory.device();
        let t = prefix[0].len();
        let ids = Tensor::from_vec(prefix.concat(), (prefix.len(), t), dev)?;
        let (y, _) = self.embed(&self.tgt_embedding, &ids, 0)?;
        let causal = AttnMask::causal(t, 0, dev)?;
        let h = self.transformer.decoder.forward(
            &y,
            memory,
            Some(&causal),
            None,
            src_mask,
            Mode::Eval,
        )?;
        let logits = self.generator.apply(&h.narrow(1, t - 1, 1)?.squeeze(1)?)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?
            .to_dtype(DType::F32)?
            .to_vec2()?)
    }

    /// Greedy decoding: from `bos`, the most likely token at each step, until
    /// `eos` or `max_len` tokens. With `use_cache`, each step runs only the
    /// new token through the decoder (its keys and values are cached);
    /// without, the whole prefix is recomputed (slower, same result).
    pub fn greedy(
        &self,
        src: &Tensor,
        bos: u32,
        eos: u32,
        max_len: usize,
        use_cache: bool,
    ) -> Result<Vec<Hypothesis>> {
        let (memory, src_mask) = self.encode(src, Mode::Eval)?;
        let rows = memory.dims()[0];
        let mut caches = self.transformer.decoder.cache(&memory)?;
        let mut prefix: Vec<Vec<u32>> = vec![vec![bos]; rows];
        let mut out = vec![
            Hypothesis {
                tokens: Vec::new(),
                score: 0.0
            };
            rows
        ];
        let mut done = vec![false; rows];
        for pos in 0..max_len {
            let logp = if use_cache {
                let last: Vec<u32> = prefix.iter().map(|p| p[pos]).collect();
                self.step(&mut caches, &last, pos, src_mask.as_ref())?
            } else {
                self.step_recompute(&memory, &prefix, src_mask.as_ref())?
            };
            for (r, lp) in logp.iter().enumerate() {
                let (tok, score) = argmax(lp);
                prefix[r].push(if done[r] { eos } else { tok });
                if !done[r] {
                    out[r].score += score;
                    done[r] = tok == eos;
                    if !done[r] {
                        out[r].tokens.push(tok);
                    }
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }

    /// Beam search ([`seq_core::beam`]): keeps the `width` best prefixes of
    /// each source; a prefix ending in `eos` is finished, ranked by `score /
    /// ((5 + len) / 6)^alpha` (the length penalty of Wu et al., 2016; `alpha
    /// = 0` ranks by the raw log-probability). Stops when `width` hypotheses
    /// are finished or after `max_len` tokens. Width 1 is greedy decoding.
    pub fn beam(&self, src: &Tensor, config: &BeamConfig) -> Result<Vec<Hypothesis>> {
        let width = config.width;
        let (memory, src_mask) = self.encode(src, Mode::Eval)?;
        let sources = memory.dims()[0];
        // Each source's memory repeated for its `width` beams: rows b*width + w.
        let memory = repeat_rows(&memory, 0, width.max(1))?;
        let src_mask = src_mask
            .map(|m| repeat_rows(&m, 0, width.max(1)))
            .transpose()?;
        let mut decoder = CachedDecoder {
            model: self,
            caches: self.transformer.decoder.cache(&memory)?,
            src_mask,
        };
        beam_search(&mut decoder, sources, config, memory.device())
    }
}

/// The decoder with its key/value caches, as beam search drives it.
struct CachedDecoder<'a> {
    model: &'a TransformerSeq2Seq,
    caches: Vec<DecoderCache>,
    src_mask: Option<Tensor>,
}

impl BeamDecoder for CachedDecoder<'_> {
    fn step(&mut self, last: &[u32], pos: usize) -> Result<Vec<Vec<f32>>> {
        self.model
            .step(&mut self.caches, last, pos, self.src_mask.as_ref())
    }

    fn reorder(&mut self, rows: &Tensor) -> Result<()> {
        for c in self.caches.iter_mut() {
            c.self_attn.reorder(rows)?;
        }
        Ok(())
    }
}

/// The index and value of the largest entry.
fn argmax(xs: &[f32]) -> (u32, f32) {
    xs.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i as u32, x)
            } else {
                best
            }
        })
}

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for TransformerSeq2Seq {
    type Config = TransformerSeq2SeqConfig;
    const MODEL_TYPE: &'static str = "transformer_seq2seq";

    fn build(config: &TransformerSeq2SeqConfig, vb: VarBuilder) -> Result<Self> {
        TransformerSeq2Seq::new(*config, vb)
    }

    fn pretrained_config(&self) -> TransformerSeq2SeqConfig {
        *self.config()
    }
}
