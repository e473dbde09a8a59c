//! The translators, trained by teacher forcing: the Transformer
//! encoder-decoder (Vaswani et al., 2017) and GRU encoder-decoders (Cho et
//! al., 2014) without attention, with additive attention (Bahdanau et al.,
//! 2015) or with multiplicative attention (Luong et al., 2015) for
//! comparison; their decoding, greedy or beam search.

use std::str::FromStr;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use seq::attention::{
    TransformerConfig, TransformerLayerConfig, TransformerSeq2Seq, TransformerSeq2SeqConfig,
};
use seq::core::beam::BeamConfig;
use seq::core::{Mode, Result};
use seq::data::pipeline::{pad_sequences, Batcher, BatcherConfig, Side};
use seq::data::{Tokenizer, BOS, EOS, PAD};
use seq::recurrent::topology::{Score, Seq2Seq, Seq2SeqConfig};
use seq::train::{loss, Task};

/// The ids of the target tokenizer's `[BOS]` and `[EOS]`, which start
/// and end every decoded sentence (padding is id 0, as the models'
/// embeddings take it).
#[derive(Debug, Clone, Copy)]
pub struct Specials {
    pub bos: u32,
    pub eos: u32,
}

impl Specials {
    /// The special tokens of `tokenizer`; an error if it lacks one or
    /// pads with another id than 0.
    pub fn of(tokenizer: &Tokenizer) -> std::result::Result<Specials, String> {
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| format!("the target tokenizer has no {token} token"))
        };
        if id(PAD)? != 0 {
            return Err(format!("the target tokenizer's {PAD} is not id 0"));
        }
        Ok(Specials {
            bos: id(BOS)?,
            eos: id(EOS)?,
        })
    }
}

/// Which translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transformer,
    /// A GRU encoder-decoder, with attention of this score if any.
    Gru(Option<Score>),
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Transformer,
        Kind::Gru(None),
        Kind::Gru(Some(Score::Additive)),
        Kind::Gru(Some(Score::Multiplicative)),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Transformer => "transformer",
            Kind::Gru(None) => "gru",
            Kind::Gru(Some(Score::Additive)) => "gru-bahdanau",
            Kind::Gru(Some(Score::Multiplicative)) => "gru-luong",
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown model {s:?}; transformer, gru, gru-bahdanau or gru-luong")
            })
    }
}

/// Sizes shared by both translators.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    /// `d_model` of the Transformer, word vectors of the GRU.
    pub width: usize,
    pub dropout: f64,
    pub label_smoothing: f64,
    pub specials: Specials,
}

/// Source ids `[batch, S]`, decoder inputs `[batch, T]` (`[BOS]` then the
/// target) and outputs `[batch, T]` (the target then `[EOS]`), 0 = padding.
#[derive(Clone)]
pub struct PairBatch {
    pub src: Tensor,
    pub tgt_in: Tensor,
    pub tgt_out: Tensor,
}

/// Pairs of id sequences as batches of about `size`, bucketed by source length.
pub fn pair_batches(
    src: &[Vec<u32>],
    tgt: &[Vec<u32>],
    size: usize,
    Specials { bos, eos }: Specials,
    device: &Device,
) -> Result<Vec<PairBatch>> {
    let lengths: Vec<usize> = src.iter().map(Vec::len).collect();
    let config = BatcherConfig {
        bucket: 8,
        prefetch: 0,
        ..BatcherConfig::new(size)
    };
    let pad = |seqs: Vec<Vec<u32>>| -> Result<Tensor> {
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let p = pad_sequences(&refs, None, Side::Post, Side::Post, 0)?;
        Ok(Tensor::from_vec(p.ids, (p.batch, p.time), device)?)
    };
    Batcher::new(config)
        .plan(&lengths, 0)
        .iter()
        .map(|rows| {
            let pick = |f: &dyn Fn(&[u32]) -> Vec<u32>| -> Vec<Vec<u32>> {
                rows.iter().map(|&i| f(&tgt[i])).collect()
            };
            Ok(PairBatch {
                src: pad(rows.iter().map(|&i| src[i].clone()).collect())?,
                tgt_in: pad(pick(&|t| [&[bos], t].concat()))?,
                tgt_out: pad(pick(&|t| [t, &[eos]].concat()))?,
            })
        })
        .collect()
}

/// A translator of either kind, and the label smoothing it trains with.
pub struct Translator {
    net: Net,
    label_smoothing: f64,
    specials: Specials,
}

enum Net {
    Transformer(Box<TransformerSeq2Seq>),
    Gru(Box<Seq2Seq>),
}

impl Translator {
    /// The Transformer: 2 + 2 pre-norm layers, 4 heads, feed-forward 4x
    /// wide; or a GRU: one layer each side, hidden 2x `width`.
    pub fn new(kind: Kind, s: Sizes, vb: VarBuilder) -> Result<Self> {
        let net = match kind {
            Kind::Transformer => {
                let mut layer =
                    TransformerLayerConfig::new(s.width, 4).with_feedforward(4 * s.width);
                (layer.dropout, layer.norm_first) = (s.dropout, true);
                let transformer = TransformerConfig::new(s.width, 4)
                    .with_layer(layer)
                    .with_layers(2, 2);
                let config = TransformerSeq2SeqConfig::new(s.src_vocab, s.tgt_vocab, transformer)
                    .with_max_len(256);
                Net::Transformer(Box::new(TransformerSeq2Seq::new(config, vb)?))
            }
            Kind::Gru(attention) => {
                let mut config = Seq2SeqConfig::new(s.src_vocab, s.tgt_vocab, s.width, 2 * s.width)
                    .with_dropout(s.dropout);
                config.attention = attention;
                Net::Gru(Box::new(Seq2Seq::new(config, vb)?))
            }
        };
        Ok(Translator {
            net,
            label_smoothing: s.label_smoothing,
            specials: s.specials,
        })
    }

    /// Teacher forcing: logits `[batch, T, tgt_vocab]`.
    fn logits(&self, b: &PairBatch, mode: Mode) -> Result<Tensor> {
        match &self.net {
            Net::Transformer(m) => m.forward(&b.src, &b.tgt_in, mode),
            Net::Gru(m) => m.forward(&b.src, &b.tgt_in, mode),
        }
    }

    /// Translations of `sources` (ids without `[BOS]`/`[EOS]`), 64 at a
    /// time: beam search of `beam` (`beam > 1`, length penalty 0.6) or greedy.
    pub fn translate(
        &self,
        sources: &[Vec<u32>],
        beam: usize,
        device: &Device,
    ) -> Result<Vec<Vec<u32>>> {
        let mut out = Vec::with_capacity(sources.len());
        for chunk in sources.chunks(64) {
            let refs: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let p = pad_sequences(&refs, None, Side::Post, Side::Post, 0)?;
            let src = Tensor::from_vec(p.ids, (p.batch, p.time), device)?;
            let max_len = 2 * p.time + 10;
            let Specials { bos, eos } = self.specials;
            let beams = BeamConfig::new(bos, eos, max_len, beam).with_alpha(0.6);
            match &self.net {
                Net::Transformer(m) if beam > 1 => {
                    out.extend(m.beam(&src, &beams)?.into_iter().map(|h| h.tokens))
                }
                Net::Transformer(m) => out.extend(
                    m.greedy(&src, bos, eos, max_len, true)?
                        .into_iter()
                        .map(|h| h.tokens),
                ),
                Net::Gru(m) if beam > 1 => {
                    out.extend(m.beam(&src, &beams)?.into_iter().map(|h| h.tokens))
                }
                Net::Gru(m) => out.extend(m.greedy(&src, bos, eos, max_len)?),
            }
        }
        Ok(out)
    }

    /// The attention over the source while the model reads `[BOS] +
    /// target` for `source`: `[target + 1][source]` (row `t` is the step
    /// that predicts target token `t`, or `[EOS]`): the Transformer's last
    /// decoder layer's cross-attention averaged over the heads, or a GRU's
    /// attention. `None` for the GRU without attention.
    pub fn cross_attention(
        &self,
        source: &[u32],
        target: &[u32],
        device: &Device,
    ) -> Result<Option<Vec<Vec<f32>>>> {
        let src = Tensor::from_vec(source.to_vec(), (1, source.len()), device)?;
        let tgt_in = [&[self.specials.bos], target].concat();
        let tgt_in = Tensor::from_vec(tgt_in.clone(), (1, tgt_in.len()), device)?;
        let weights = match &self.net {
            Net::Transformer(m) => {
                let (_, weights) = m.forward_with_weights(&src, &tgt_in, Mode::Eval)?;
                match weights.decoder.last() {
                    Some(last) => last.cross_attn.mean(1)?, // [1, T, S]
                    None => return Ok(None),
                }
            }
            Net::Gru(m) => match m.forward_with_weights(&src, &tgt_in, Mode::Eval)?.1 {
                Some(w) => w, // [1, T, S]
                None => return Ok(None),
            },
        };
        Ok(Some(weights.squeeze(0)?.to_dtype(DType::F32)?.to_vec2()?))
    }
}

impl Task<PairBatch> for Translator {
    fn loss(&self, b: &PairBatch, mode: Mode) -> Result<Tensor> {
        let logits = self.logits(b, mode)?;
        loss::cross_entropy(&logits, &b.tgt_out, Some(0), self.label_smoothing)
    }

    /// `token_accuracy`: next tokens right under teacher forcing, padding left out.
    fn metrics(&self, batches: &[PairBatch]) -> Result<Vec<(String, f64)>> {
        let (mut right, mut total) = (0.0, 0.0);
        for b in batches {
            let predicted = self.logits(b, Mode::Eval)?.argmax(D::Minus1)?; // [batch, T]
            let real = b.tgt_out.ne(0u32)?.to_dtype(DType::F32)?;
            let hit = predicted.eq(&b.tgt_out)?.to_dtype(DType::F32)?;
            right += (hit * &real)?.sum_all()?.to_scalar::<f32>()? as f64;
            total += real.sum_all()?.to_scalar::<f32>()? as f64;
        }
        Ok(vec![("token_accuracy".into(), right / total.max(1.0))])
    }

    fn size(&self, b: &PairBatch) -> usize {
        b.src.dims()[0]
    }
}
