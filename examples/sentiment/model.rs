//! The sentiment classifier: word vectors, a sequence encoder, one logit.

use std::str::FromStr;

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use seq::core::{
    Dropout, Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Module, Result, Seq,
};
use seq::recurrent::topology::last_layer_state;
use seq::recurrent::{CellKind, Recurrent, RecurrentConfig};

/// Which encoder reads the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bidirectional LSTM: final states of both directions.
    BiLstm,
    /// LSTM: final state.
    Lstm,
    /// GRU: final state.
    Gru,
    /// Bag of embeddings (fastText): the mean word vector.
    Bag,
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "bilstm" => Ok(Kind::BiLstm),
            "lstm" => Ok(Kind::Lstm),
            "gru" => Ok(Kind::Gru),
            "bag" => Ok(Kind::Bag),
            other => Err(format!("unknown model {other:?}: bilstm, lstm, gru or bag")),
        }
    }
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::BiLstm => "bilstm",
            Kind::Lstm => "lstm",
            Kind::Gru => "gru",
            Kind::Bag => "bag",
        }
    }
}

/// The sizes of the classifier.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub kind: Kind,
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    pub dropout: f64,
}

impl Config {
    /// `key value` lines, saved beside the weights.
    pub fn to_text(self) -> String {
        format!(
            "model {}\nembed {}\nhidden {}\n",
            self.kind.name(),
            self.embed,
            self.hidden
        )
    }

    /// Reads [`Config::to_text`] back.
    pub fn from_text(text: &str, vocab: usize) -> std::result::Result<Config, String> {
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::trim))
                .ok_or_else(|| format!("no `{key}` line"))
        };
        let num = |key: &str| {
            get(key)?
                .parse::<usize>()
                .map_err(|e| format!("{key}: {e}"))
        };
        Ok(Config {
            kind: get("model")?.parse()?,
            vocab,
            embed: num("embed")?,
            hidden: num("hidden")?,
            dropout: 0.0,
        })
    }
}

/// Many-to-one: embeddings (padding id 0 makes the mask), an encoder, one logit.
pub struct Classifier {
    embedding: Embedding,
    encoder: Option<Box<dyn Recurrent>>,
    dropout: Dropout,
    head: Linear,
}

impl Classifier {
    pub fn new(c: Config, vb: VarBuilder) -> Result<Self> {
        let embedding = Embedding::new(
            EmbeddingConfig::new(c.vocab, c.embed).with_padding_idx(0),
            vb.pp("embedding"),
        )?;
        let rnn = RecurrentConfig::new(c.embed, c.hidden);
        let (encoder, width) = match c.kind {
            Kind::Bag => (None, c.embed),
            Kind::BiLstm => (
                Some(CellKind::Lstm.build(rnn.with_bidirectional(true), vb.pp("encoder"))?),
                2 * c.hidden,
            ),
            Kind::Lstm => (Some(CellKind::Lstm.build(rnn, vb.pp("encoder"))?), c.hidden),
            Kind::Gru => (Some(CellKind::Gru.build(rnn, vb.pp("encoder"))?), c.hidden),
        };
        let head = Linear::new(LinearConfig::new(width, 1), vb.pp("head"))?;
        Ok(Classifier {
            embedding,
            encoder,
            dropout: Dropout::new(c.dropout, 1)?,
            head,
        })
    }

    /// Token ids `[batch, time]` to logits `[batch, 1]`.
    pub fn logits(&self, ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let xs = self.embedding.forward(&Seq::from_ids(ids.clone())?, mode)?; // [batch, time, embed]
        let xs = self.dropout.forward(&xs, mode)?;
        let features = match &self.encoder {
            Some(rnn) => {
                let (_, state) = rnn.forward_with_state(&xs, None, mode)?;
                last_layer_state(&state, rnn.config())? // [batch, directions * hidden]
            }
            None => {
                let (values, mask) = xs.into_parts();
                let mask = mask.expect("the embedding has a padding id, so a mask"); // [batch, time]
                let count = mask.sum_keepdim(D::Minus1)?.clamp(1.0, f64::INFINITY)?; // [batch, 1]
                values.sum(1)?.broadcast_div(&count)? // [batch, embed]
            }
        };
        self.head.apply(&self.dropout.apply(&features, mode)?)
    }
}
