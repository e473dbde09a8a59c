//! Text encoders: token ids `[batch, time]` (0 = padding) to one feature
//! vector per text `[batch, width]`, by a recurrent network, a bag of
//! embeddings (plain or Naive-Bayes-weighted), a 1D CNN or a Transformer
//! encoder. Classifiers put a linear
//! head on top; the similarity example compares the vectors.

use std::str::FromStr;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq::attention::{SinusoidalEncoding, TransformerEncoder, TransformerLayerConfig};
use seq::conv::{Conv1d, Conv1dConfig, Padding};
use seq::core::pool::{max_over_time, mean_over_time};
use seq::core::{Dropout, Embedding, EmbeddingConfig, Mode, Module, Result, Seq};
use seq::recurrent::topology::last_layer_state;
use seq::recurrent::{CellKind, Recurrent, RecurrentConfig};

/// Which network reads the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bidirectional LSTM: the final states of both directions.
    BiLstm,
    /// Bidirectional LSTM: the element-wise maximum of its outputs over the
    /// real steps (Conneau et al., 2017).
    BiLstmMax,
    /// LSTM: the final state.
    Lstm,
    /// GRU: the final state.
    Gru,
    /// Bag of embeddings (fastText, Joulin et al. 2017): the mean word vector.
    Bag,
    /// Naive-Bayes-weighted bag of words (NBSVM, Wang & Manning 2012, with
    /// the logistic loss): the sum over the text's distinct words of a
    /// learned weight times the word's log-count ratio (one number per
    /// text). The ratios come from the training texts of two classes
    /// ([`super::naive_bayes`]); the texts' ids must be distinct.
    NbBag,
    /// Kim (2014): convolutions of widths 3, 4 and 5, relu, max over time.
    Cnn,
    /// Two Transformer encoder layers (Vaswani et al. 2017) over sinusoidal
    /// positions, mean over the real tokens.
    Transformer,
}

impl Kind {
    /// Every kind, in `--help` order.
    pub const ALL: [Kind; 8] = [
        Kind::BiLstm,
        Kind::BiLstmMax,
        Kind::Lstm,
        Kind::Gru,
        Kind::Bag,
        Kind::NbBag,
        Kind::Cnn,
        Kind::Transformer,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::BiLstm => "bilstm",
            Kind::BiLstmMax => "bilstm-max",
            Kind::Lstm => "lstm",
            Kind::Gru => "gru",
            Kind::Bag => "bag",
            Kind::NbBag => "nb-bag",
            Kind::Cnn => "cnn",
            Kind::Transformer => "transformer",
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
                let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown model; one of {}", names.join(", "))
            })
    }
}

/// The sizes of a [`TextEncoder`].
#[derive(Debug, Clone, Copy)]
pub struct EncoderConfig {
    pub kind: Kind,
    /// Vocabulary size (id 0 is padding).
    pub vocab: usize,
    /// Word vector width (also the Transformer's `d_model`; the
    /// Naive-Bayes bag's word weights are one number whatever it says).
    pub embed: usize,
    /// Recurrent units per direction, filters per CNN width, or the
    /// Transformer's feed-forward width / 2.
    pub hidden: usize,
    /// Dropout on the word vectors (and inside the Transformer).
    pub dropout: f64,
    /// The longest text, in tokens (the Transformer's position table).
    pub max_len: usize,
}

impl EncoderConfig {
    /// The sizes as JSON, saved beside the weights.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "model": self.kind.name(),
            "vocab": self.vocab,
            "embed": self.embed,
            "hidden": self.hidden,
            "max_len": self.max_len,
        })
    }

    /// Reads [`EncoderConfig::to_json`] back (dropout 0: for inference).
    pub fn from_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        let num = |key: &str| {
            v[key]
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| format!("no number `{key}`"))
        };
        let kind = v["model"].as_str().ok_or("no string `model`")?.parse()?;
        Ok(EncoderConfig {
            kind,
            vocab: num("vocab")?,
            embed: num("embed")?,
            hidden: num("hidden")?,
            dropout: 0.0,
            max_len: num("max_len")?,
        })
    }
}

enum Body {
    /// Read at the final states, or max-pooled over the outputs.
    Recurrent(Box<dyn Recurrent>, bool),
    Bag,
    /// The log-count ratio of each id `[vocab, 1]` (a buffer: no gradient).
    NbBag(Tensor),
    Cnn(Vec<Conv1d>),
    Transformer(SinusoidalEncoding, TransformerEncoder),
}

/// Word vectors (`embedding.weight`; padding id 0 makes the mask) and an
/// encoder (`encoder.*`) giving one vector per text.
pub struct TextEncoder {
    embedding: Embedding,
    dropout: Dropout,
    body: Body,
    width: usize,
}

/// The name of the Naive-Bayes bag's log-count ratios under `encoder.`.
pub const RATIOS: &str = "ratios";

/// The CNN's convolution widths.
const CNN_WIDTHS: [usize; 3] = [3, 4, 5];

impl TextEncoder {
    pub fn new(c: EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let embed = if c.kind == Kind::NbBag { 1 } else { c.embed };
        let embedding = Embedding::new(
            EmbeddingConfig::new(c.vocab, embed).with_padding_idx(0),
            vb.pp("embedding"),
        )?;
        let (dtype, device) = (vb.dtype(), vb.device().clone());
        let vb = vb.pp("encoder");
        let rnn = RecurrentConfig::new(c.embed, c.hidden);
        let (body, width) = match c.kind {
            Kind::BiLstm | Kind::BiLstmMax => {
                let lstm = CellKind::Lstm.build(rnn.with_bidirectional(true), vb)?;
                (
                    Body::Recurrent(lstm, c.kind == Kind::BiLstmMax),
                    2 * c.hidden,
                )
            }
            Kind::Lstm => (
                Body::Recurrent(CellKind::Lstm.build(rnn, vb)?, false),
                c.hidden,
            ),
            Kind::Gru => (
                Body::Recurrent(CellKind::Gru.build(rnn, vb)?, false),
                c.hidden,
            ),
            Kind::Bag => (Body::Bag, c.embed),
            Kind::NbBag => {
                let ratios =
                    vb.get_with_hints((c.vocab, 1), RATIOS, candle_nn::Init::Const(0.0))?;
                (Body::NbBag(ratios), 1)
            }
            Kind::Cnn => {
                let convs = CNN_WIDTHS
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        let conv = Conv1dConfig::new(c.embed, c.hidden, k);
                        Conv1d::new(conv.with_padding(Padding::Same), vb.pp(i))
                    })
                    .collect::<Result<_>>()?;
                (Body::Cnn(convs), CNN_WIDTHS.len() * c.hidden)
            }
            Kind::Transformer => {
                let mut layer =
                    TransformerLayerConfig::new(c.embed, 4).with_feedforward(2 * c.hidden);
                (layer.dropout, layer.norm_first) = (c.dropout, true);
                let encoder = TransformerEncoder::new(layer, 2, true, vb)?;
                let positions = SinusoidalEncoding::new(c.max_len, c.embed, dtype, &device)?;
                (Body::Transformer(positions, encoder), c.embed)
            }
        };
        Ok(TextEncoder {
            embedding,
            dropout: Dropout::new(c.dropout, 1)?,
            body,
            width,
        })
    }

    /// The width of the vectors [`TextEncoder::forward`] returns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Token ids `[batch, time]` to one vector per text `[batch, width]`.
    pub fn forward(&self, ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let xs = self.embedding.forward(&Seq::from_ids(ids.clone())?, mode)?; // [batch, time, embed]
        let xs = self.dropout.forward(&xs, mode)?;
        match &self.body {
            Body::Recurrent(rnn, max_pool) => {
                let (ys, state) = rnn.forward_with_state(&xs, None, mode)?;
                if *max_pool {
                    max_over_time(ys.values(), ys.mask()) // [batch, directions * hidden]
                } else {
                    last_layer_state(&state, rnn.config()) // [batch, directions * hidden]
                }
            }
            Body::Bag => mean_over_time(xs.values(), xs.mask()), // [batch, embed]
            Body::NbBag(ratios) => {
                // Padding adds nothing: its weight (and its ratio) is zero.
                let (batch, time) = ids.dims2()?;
                let r = ratios.detach().index_select(&ids.flatten_all()?, 0)?; // [batch * time, 1]
                let weighted = (xs.values() * r.reshape((batch, time, 1))?)?; // [batch, time, 1]
                Ok(weighted.sum(1)?) // [batch, 1]
            }
            Body::Cnn(convs) => {
                let pooled = convs
                    .iter()
                    .map(|conv| {
                        let ys = conv.forward(&xs, mode)?; // [batch, time, hidden]
                        max_over_time(&ys.values().relu()?, ys.mask()) // [batch, hidden]
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Tensor::cat(&pooled, 1)?) // [batch, 3 * hidden]
            }
            Body::Transformer(positions, encoder) => {
                let x = positions.apply(xs.values(), 0)?;
                let h = encoder.forward(&x, xs.mask(), None, mode)?; // [batch, time, embed]
                mean_over_time(&h, xs.mask()) // [batch, embed]
            }
        }
    }
}
