//! Many-to-many with unequal lengths: the encoder-decoder of Sutskever et
//! al. (2014) and Cho et al. (2014), with the attention of Bahdanau et al.
//! (2015) or Luong et al. (2015) as an option.

use std::fmt;

use candle_core::{DType, Tensor, D};
use candle_nn::VarBuilder;
use seq_core::beam::{beam_search, repeat_rows, BeamConfig, BeamDecoder, Hypothesis};
use seq_core::{
    Embedding, EmbeddingConfig, Error, Linear, LinearConfig, Mode, Module, Result, Seq,
};

use super::attention::{Attention, Score};
use crate::{CellKind, Recurrent, RecurrentConfig, State};

/// The sizes of a [`Seq2Seq`] model.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Seq2SeqConfig {
    /// Source vocabulary size (id 0 is padding).
    pub src_vocab: usize,
    /// Target vocabulary size (id 0 is padding).
    pub tgt_vocab: usize,
    /// Word vector width of both embeddings.
    pub embed: usize,
    /// Hidden units of encoder and decoder.
    pub hidden: usize,
    /// Stacked layers of encoder and decoder (default 1).
    pub layers: usize,
    /// The recurrent cell of both (default GRU).
    pub cell: CellKind,
    /// Dropout between stacked layers (default 0).
    pub dropout: f64,
    /// Attention of the decoder over the encoder's outputs (default none:
    /// the decoder sees the source only through its initial state).
    pub attention: Option<Score>,
}

impl Seq2SeqConfig {
    /// A one-layer GRU encoder-decoder.
    pub fn new(src_vocab: usize, tgt_vocab: usize, embed: usize, hidden: usize) -> Self {
        Seq2SeqConfig {
            src_vocab,
            tgt_vocab,
            embed,
            hidden,
            layers: 1,
            cell: CellKind::Gru,
            dropout: 0.0,
            attention: None,
        }
    }

    /// Stacked layers of encoder and decoder.
    pub fn with_layers(mut self, layers: usize) -> Self {
        self.layers = layers;
        self
    }

    /// The recurrent cell of both.
    pub fn with_cell(mut self, cell: CellKind) -> Self {
        self.cell = cell;
        self
    }

    /// Dropout between stacked layers.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Attention of the decoder over the encoder's outputs.
    pub fn with_attention(mut self, score: Score) -> Self {
        self.attention = Some(score);
        self
    }
}

/// An encoder-decoder for sequences of unequal lengths (translation).
///
/// The encoder reads the source and hands its final state (each sequence's
/// at its last real token) to the decoder as its initial state. With
/// attention, the decoder also weighs every encoder output at each step
/// (see [`Score`]) and the output layer reads the attentional state. In
/// training the decoder reads the target shifted right, starting with a
/// start token (teacher forcing); at inference it reads back its own greedy
/// choices.
///
/// Parameters: `src_embedding.weight`, `encoder.*` (PyTorch RNN names),
/// `tgt_embedding.weight`, `decoder.*`, `attention.*` (with attention),
/// `head.weight`, `head.bias`.
pub struct Seq2Seq {
    src_embedding: Embedding,
    encoder: Box<dyn Recurrent>,
    tgt_embedding: Embedding,
    decoder: Box<dyn Recurrent>,
    attention: Option<Attention>,
    head: Linear,
    config: Seq2SeqConfig,
}

/// What the decoder reads of the source: the encoder's final state and,
/// with attention, its outputs.
struct Memory {
    state: State,
    source: Option<Source>,
}

/// The encoder's outputs as attention reads them.
struct Source {
    /// `[batch, S, H]`, zeros at padded steps.
    outputs: Tensor,
    /// The outputs projected for scoring ([`Attention::keys`]).
    keys: Tensor,
    /// `[batch, S]`, 1 at real steps (none: all real).
    mask: Option<Tensor>,
}

impl Seq2Seq {
    /// Creates (or loads) every tensor under `vb`.
    pub fn new(config: Seq2SeqConfig, vb: VarBuilder) -> Result<Self> {
        let rnn = RecurrentConfig::new(config.embed, config.hidden)
            .with_layers(config.layers)
            .with_dropout(config.dropout, 0);
        Ok(Seq2Seq {
            src_embedding: Embedding::new(
                EmbeddingConfig::new(config.src_vocab, config.embed).with_padding_idx(0),
                vb.pp("src_embedding"),
            )?,
            encoder: config.cell.build(rnn, vb.pp("encoder"))?,
            tgt_embedding: Embedding::new(
                EmbeddingConfig::new(config.tgt_vocab, config.embed).with_padding_idx(0),
                vb.pp("tgt_embedding"),
            )?,
            decoder: config.cell.build(rnn, vb.pp("decoder"))?,
            attention: match config.attention {
                Some(score) => Some(Attention::new(score, config.hidden, vb.pp("attention"))?),
                None => None,
            },
            head: Linear::new(
                LinearConfig::new(config.hidden, config.tgt_vocab),
                vb.pp("head"),
            )?,
            config,
        })
    }

    /// Teacher forcing: logits of every target position.
    ///
    /// # Parameters
    /// - `src`: source ids `[batch, S]` (0 = padding).
    /// - `tgt_in`: decoder inputs `[batch, T]`: the start token, then the
    ///   target without its last token (0 = padding).
    ///
    /// # Returns
    /// Logits `[batch, T, tgt_vocab]` predicting the target at each position.
    pub fn forward(&self, src: &Tensor, tgt_in: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(self.forward_with_weights(src, tgt_in, mode)?.0)
    }

    /// [`Seq2Seq::forward`], and with attention its weights `[batch, T, S]`
    /// (row `t`: how the step predicting target token `t` read the source).
    pub fn forward_with_weights(
        &self,
        src: &Tensor,
        tgt_in: &Tensor,
        mode: Mode,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let memory = self.memory(src, mode)?;
        let ys = self
            .tgt_embedding
            .forward(&Seq::from_ids(tgt_in.clone())?, mode)?;
        let (out, _) = self
            .decoder
            .forward_with_state(&ys, Some(&memory.state), mode)?;
        self.read(out.values(), &memory)
    }

    /// Logits (and attention weights) from decoder states `[batch, T, H]`.
    fn read(&self, h: &Tensor, memory: &Memory) -> Result<(Tensor, Option<Tensor>)> {
        match (&self.attention, &memory.source) {
            (Some(attention), Some(src)) => {
                let (h, weights) =
                    attention.forward(h, &src.outputs, &src.keys, src.mask.as_ref())?;
                Ok((self.head.apply(&h)?, Some(weights)))
            }
            _ => Ok((self.head.apply(h)?, None)),
        }
    }

    /// The encoder's final state for source ids `[batch, S]`.
    pub fn encode(&self, src: &Tensor, mode: Mode) -> Result<State> {
        Ok(self.memory(src, mode)?.state)
    }

    fn memory(&self, src: &Tensor, mode: Mode) -> Result<Memory> {
        let xs = self
            .src_embedding
            .forward(&Seq::from_ids(src.clone())?, mode)?;
        let (out, state) = self.encoder.forward_with_state(&xs, None, mode)?;
        let source = match &self.attention {
            Some(attention) => {
                let (outputs, mask) = out.into_parts();
                Some(Source {
                    keys: attention.keys(&outputs)?,
                    outputs,
                    mask,
                })
            }
            None => None,
        };
        Ok(Memory { state, source })
    }

    /// Greedy decoding: from `bos`, the most likely token at each step fed
    /// back, until every sequence has produced `eos` or `max_len` tokens.
    ///
    /// # Returns
    /// For each source sequence its tokens, without `bos` and `eos`.
    pub fn greedy(
        &self,
        src: &Tensor,
        bos: u32,
        eos: u32,
        max_len: usize,
    ) -> Result<Vec<Vec<u32>>> {
        let batch = sources(src)?;
        let mut memory = self.memory(src, Mode::Eval)?;
        let mut tokens = Tensor::full(bos, (batch, 1), src.device())?;
        let mut out = vec![Vec::new(); batch];
        let mut done = vec![false; batch];
        for _ in 0..max_len {
            let ys = self
                .tgt_embedding
                .forward(&Seq::from_ids(tokens)?, Mode::Eval)?;
            let (h, next) =
                self.decoder
                    .forward_with_state(&ys, Some(&memory.state), Mode::Eval)?;
            memory.state = next;
            let (logits, _) = self.read(h.values(), &memory)?; // [batch, 1, vocab]
            tokens = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?; // [batch, 1]
            for (b, &tok) in tokens.flatten_all()?.to_vec1::<u32>()?.iter().enumerate() {
                if !done[b] {
                    done[b] = tok == eos;
                    if !done[b] {
                        out[b].push(tok);
                    }
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }

    /// Beam search: the `config.width` best prefixes of each source are
    /// kept, ranked at the end by `score / ((5 + len) / 6)^alpha`
    /// ([`seq_core::beam`], shared with the Transformer's). Width 1 is
    /// greedy decoding.
    ///
    /// # Returns
    /// For each source sequence its best hypothesis (tokens without `bos`
    /// and `eos`, and their summed log probability).
    pub fn beam(&self, src: &Tensor, config: &BeamConfig) -> Result<Vec<Hypothesis>> {
        let sources = sources(src)?;
        let memory = self.memory(src, Mode::Eval)?;
        // Every row of state and memory repeated for the source's beams.
        let repeat = |t: &Tensor, dim| repeat_rows(t, dim, config.width.max(1));
        let memory = Memory {
            state: memory.state.map(|t| repeat(t, 1))?,
            source: match memory.source {
                Some(src) => Some(Source {
                    outputs: repeat(&src.outputs, 0)?,
                    keys: repeat(&src.keys, 0)?,
                    mask: src.mask.map(|m| repeat(&m, 0)).transpose()?,
                }),
                None => None,
            },
        };
        let mut decoder = Stepper {
            model: self,
            memory,
        };
        beam_search(&mut decoder, sources, config, src.device())
    }

    /// The configuration.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.config
    }
}

/// The number of source sequences in `src` `[batch, S]`, at least one.
fn sources(src: &Tensor) -> Result<usize> {
    match src.dims().first() {
        Some(&n) if n > 0 => Ok(n),
        _ => Err(Error::shape(
            "Seq2Seq",
            "source ids",
            "[batch >= 1, time]",
            src.dims(),
        )),
    }
}

/// The decoder and what it reads of the source, one row per beam.
struct Stepper<'a> {
    model: &'a Seq2Seq,
    memory: Memory,
}

impl BeamDecoder for Stepper<'_> {
    fn step(&mut self, last: &[u32], _pos: usize) -> Result<Vec<Vec<f32>>> {
        let m = self.model;
        let device = m.head.weight().device();
        let ids = Tensor::from_vec(last.to_vec(), (last.len(), 1), device)?;
        let ys = m.tgt_embedding.forward(&Seq::from_ids(ids)?, Mode::Eval)?;
        let (h, next) = m
            .decoder
            .forward_with_state(&ys, Some(&self.memory.state), Mode::Eval)?;
        self.memory.state = next;
        let (logits, _) = m.read(h.values(), &self.memory)?; // [rows, 1, vocab]
        Ok(candle_nn::ops::log_softmax(&logits.squeeze(1)?, D::Minus1)?
            .to_dtype(DType::F32)?
            .to_vec2()?)
    }

    fn reorder(&mut self, rows: &Tensor) -> Result<()> {
        // Beams move only within their source, so the memory stays put.
        self.memory.state = self
            .memory
            .state
            .map(|t| t.contiguous()?.index_select(rows, 1))?;
        Ok(())
    }
}

impl fmt::Display for Seq2Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Seq2Seq(encoder={}, decoder={}, head={})",
            self.encoder, self.decoder, self.head
        )
    }
}

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for Seq2Seq {
    type Config = Seq2SeqConfig;
    const MODEL_TYPE: &'static str = "seq2seq";

    fn build(config: &Seq2SeqConfig, vb: VarBuilder) -> Result<Self> {
        Seq2Seq::new(*config, vb)
    }

    fn pretrained_config(&self) -> Seq2SeqConfig {
        *self.config()
    }
}
