//! [`TransformerSeq2Seq`]: a token-to-token Transformer (translation) with
//! autoregressive decoding, greedy and beam search, over a key/value cache.

use candle_core::{DType, Tensor, D};
use candle_nn::VarBuilder;
use seq_core::{
    Embedding, EmbeddingConfig, Error, Linear, LinearConfig, Mode, Module, Result, Seq,
};

use crate::layer::DecoderCache;
use crate::transformer::TransformerWeights;
use crate::{AttnMask, SinusoidalEncoding, Transformer, TransformerConfig};

/// The sizes of a [`TransformerSeq2Seq`].
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// A finished hypothesis: its tokens (without start and end tokens) and the
/// sum of their log-probabilities (the end token's included when emitted).
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// The tokens.
    pub tokens: Vec<u32>,
    /// `sum log p(token | prefix, source)`.
    pub score: f32,
}

/// Embeddings plus sinusoidal positions, a [`Transformer`], and a linear
/// generator to target logits (Vaswani et al., 2017). The embeddings start
/// as `N(0, 1)`, on the scale of the positional encoding, so they are not
/// multiplied by `sqrt(d_model)` as the paper's `N(0, 1/d_model)` ones are. Parameters: `src_embedding.weight`, `tgt_embedding.weight`,
/// `transformer.*` (`nn.Transformer` names), `generator.*`.
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

    /// Beam search: keeps the `width` best prefixes of each source; a prefix
    /// ending in `eos` is finished, ranked by `score / ((5 + len) / 6)^alpha`
    /// (the length penalty of Wu et al., 2016; `alpha = 0` ranks by the raw
    /// log-probability). Stops when `width` hypotheses are finished or after
    /// `max_len` tokens. Width 1 is greedy decoding.
    pub fn beam(
        &self,
        src: &Tensor,
        bos: u32,
        eos: u32,
        max_len: usize,
        width: usize,
        alpha: f32,
    ) -> Result<Vec<Hypothesis>> {
        if width == 0 {
            return Err(Error::config("beam search", "width must be at least 1"));
        }
        let (memory, src_mask) = self.encode(src, Mode::Eval)?;
        let n = memory.dims()[0];
        let dev = memory.device().clone();
        // Each source's memory repeated for its `width` beams: rows b*width + w.
        let repeat = Tensor::from_vec(
            (0..n * width)
                .map(|r| (r / width) as u32)
                .collect::<Vec<_>>(),
            n * width,
            &dev,
        )?;
        let memory = memory.index_select(&repeat, 0)?;
        let src_mask = src_mask.map(|m| m.index_select(&repeat, 0)).transpose()?;
        let mut caches = self.transformer.decoder.cache(&memory)?;
        let penalty = |len: usize| ((5.0 + len as f32) / 6.0).powf(alpha);
        let mut beams: Vec<(Vec<u32>, f32)> = (0..n * width)
            .map(|r| {
                (
                    vec![bos],
                    if r % width == 0 {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    },
                )
            })
            .collect();
        let mut finished: Vec<Vec<(Vec<u32>, f32)>> = vec![Vec::new(); n];
        for pos in 0..max_len {
            let last: Vec<u32> = beams.iter().map(|(t, _)| t[pos]).collect();
            let logp = self.step(&mut caches, &last, pos, src_mask.as_ref())?;
            let mut order = Vec::with_capacity(n * width);
            let mut next = Vec::with_capacity(n * width);
            for b in 0..n {
                let mut cands: Vec<(f32, usize, u32)> = Vec::new();
                for w in 0..width {
                    let score = beams[b * width + w].1;
                    if score.is_finite() {
                        cands.extend(
                            logp[b * width + w]
                                .iter()
                                .enumerate()
                                .map(|(v, lp)| (score + lp, w, v as u32)),
                        );
                    }
                }
                cands.sort_by(|a, c| c.0.total_cmp(&a.0));
                let mut live = Vec::with_capacity(width);
                for (rank, &(score, w, tok)) in cands.iter().enumerate() {
                    if live.len() == width {
                        break;
                    }
                    let mut tokens = beams[b * width + w].0.clone();
                    tokens.push(tok);
                    if tok == eos {
                        if rank < width && finished[b].len() < width {
                            finished[b].push((tokens, score));
                        }
                    } else {
                        live.push((tokens, score, b * width + w));
                    }
                }
                while live.len() < width {
                    live.push((vec![eos; pos + 2], f32::NEG_INFINITY, b * width));
                }
                for (tokens, score, row) in live {
                    order.push(row as u32);
                    next.push((tokens, score));
                }
            }
            for c in caches.iter_mut() {
                let rows = Tensor::from_vec(order.clone(), order.len(), &dev)?;
                c.self_attn.reorder(&rows)?;
            }
            beams = next;
            if finished.iter().all(|f| f.len() >= width) {
                break;
            }
        }
        let strip = |tokens: &[u32]| {
            tokens[1..]
                .iter()
                .copied()
                .filter(|&t| t != eos)
                .collect::<Vec<u32>>()
        };
        Ok((0..n)
            .map(|b| {
                let mut pool = finished[b].clone();
                if pool.is_empty() {
                    pool.extend(
                        beams[b * width..(b + 1) * width]
                            .iter()
                            .filter(|(_, s)| s.is_finite())
                            .cloned(),
                    );
                }
                let best = pool
                    .into_iter()
                    .max_by(|x, y| {
                        (x.1 / penalty(x.0.len() - 1)).total_cmp(&(y.1 / penalty(y.0.len() - 1)))
                    })
                    .unwrap_or((vec![bos], 0.0));
                Hypothesis {
                    tokens: strip(&best.0),
                    score: best.1,
                }
            })
            .collect())
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
