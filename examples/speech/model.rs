//! The acoustic models: log-mel frames in, per-step log probabilities over
//! the characters and the CTC blank out.
//!
//! ```text
//! frames [batch, T, n_mels]
//!   -> Conv1d(n_mels, 128, kernel 5, stride 2, same) + ReLU   [batch, T/2, 128]
//!   -> gru:  2-layer bidirectional GRU                        [batch, T/2, 2H]
//!      conv: Conv1d(128, 128, kernel 5, same) + ReLU          (the baseline: 130 ms of context)
//!   -> Linear + log-softmax                                   [batch, T/2, classes]
//! ```

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use seq::conv::{Conv1d, Conv1dConfig, Padding};
use seq::core::{Linear, LinearConfig, Mode, Module, Seq};
use seq::recurrent::{Gru, RecurrentConfig};
use seq::train::ctc::{self, CtcLoss};
use seq::train::Task;

/// Frames and transcripts of a batch.
#[derive(Clone)]
pub struct Batch {
    /// `[batch, T, n_mels]` with each utterance's real frames masked.
    pub xs: Seq,
    /// Character ids (1-based: 0 is the blank).
    pub labels: Vec<Vec<u32>>,
}

/// The two models: `gru` and the convolutional baseline `conv`.
pub struct Recogniser {
    front: Conv1d,
    context: Context,
    head: Linear,
}

enum Context {
    Gru(Gru),
    Conv(Conv1d),
}

impl Recogniser {
    /// A `model` (`gru` or `conv`) over `n_mels` bands for `classes`
    /// outputs (blank included), GRU width `hidden`.
    pub fn new(
        model: &str,
        n_mels: usize,
        hidden: usize,
        classes: usize,
        dropout: f64,
        vb: VarBuilder,
    ) -> seq::core::Result<Self> {
        let front = Conv1d::new(
            Conv1dConfig::new(n_mels, 128, 5)
                .with_stride(2)
                .with_padding(Padding::Same),
            vb.pp("front"),
        )?;
        let (context, width) = match model {
            "gru" => {
                let config = RecurrentConfig::new(128, hidden)
                    .with_layers(2)
                    .with_bidirectional(true)
                    .with_dropout(dropout, 0);
                (Context::Gru(Gru::new(config, vb.pp("gru"))?), 2 * hidden)
            }
            _ => {
                let conv = Conv1dConfig::new(128, 128, 5).with_padding(Padding::Same);
                (Context::Conv(Conv1d::new(conv, vb.pp("conv"))?), 128)
            }
        };
        let head = Linear::new(LinearConfig::new(width, classes), vb.pp("head"))?;
        Ok(Recogniser {
            front,
            context,
            head,
        })
    }

    /// Log probabilities `[batch, T', classes]` and each utterance's `T'`.
    pub fn log_probs(&self, xs: &Seq, mode: Mode) -> seq::core::Result<(Tensor, Vec<usize>)> {
        let h = self.front.forward(xs, mode)?;
        let h = h.with_values(h.values().relu()?)?;
        let h = match &self.context {
            Context::Gru(gru) => gru.forward(&h, mode)?,
            Context::Conv(conv) => {
                let y = conv.forward(&h, mode)?;
                y.with_values(y.values().relu()?)?
            }
        };
        let lengths = h.lengths()?;
        let logits = self.head.apply(h.values())?;
        Ok((candle_nn::ops::log_softmax(&logits, D::Minus1)?, lengths))
    }

    /// Greedy transcripts of a batch, as character ids.
    pub fn greedy(&self, b: &Batch) -> seq::core::Result<Vec<Vec<u32>>> {
        let (lp, lengths) = self.log_probs(&b.xs, Mode::Eval)?;
        ctc::greedy(&lp, &lengths, 0)
    }
}

impl Task<Batch> for Recogniser {
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        let (lp, lengths) = self.log_probs(&b.xs, mode)?;
        CtcLoss::new().loss(&lp, &lengths, &b.labels)
    }

    /// The greedy character error rate.
    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut truth, mut found) = (Vec::new(), Vec::new());
        for b in batches {
            truth.extend(b.labels.iter().cloned());
            found.extend(self.greedy(b)?);
        }
        let cer = seq::train::metrics::edit::error_rate(&truth, &found)
            .map_err(|e| seq::core::Error::config("speech", e))?;
        Ok(vec![("cer".into(), cer)])
    }

    fn size(&self, b: &Batch) -> usize {
        b.labels.len()
    }
}
