//! Attention for recurrent encoder-decoders: at each target step the
//! decoder's state `h_t` scores every encoder output `e_s`, the scores'
//! softmax over the real source steps weighs the outputs into a context
//! `c_t`, and the two are combined before the output layer (the global
//! attention of Luong et al., 2015, without input feeding):
//!
//! ```text
//! additive (Bahdanau et al., 2015):   score(h_t, e_s) = v . tanh(W_q h_t + W_k e_s)
//! multiplicative (Luong et al., 2015): score(h_t, e_s) = h_t . (W_a e_s)
//! a_t = softmax_s(score(h_t, e_s))        padded source steps get weight 0
//! c_t = sum_s a_t(s) e_s
//! h~_t = tanh(W_c [c_t ; h_t])            what the output layer reads
//! ```
//!
//! Scoring the state after the recurrent step (rather than before it, and
//! feeding the context back as an input, as Bahdanau et al. do) keeps the
//! decoder one recurrent op over the whole target in training.

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use seq_core::{softmax, Linear, LinearConfig, Result};

/// How the decoder's state scores the encoder's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Score {
    /// `v . tanh(W_q h + W_k e)` (Bahdanau et al., 2015).
    Additive,
    /// `h . (W_a e)` (Luong et al., 2015, "general").
    Multiplicative,
}

/// The attention of a [`Seq2Seq`](super::Seq2Seq) decoder over its encoder.
///
/// Parameters: additive `attention.query.weight` (`W_q`),
/// `attention.key.weight` (`W_k`), `attention.v.weight`; multiplicative
/// `attention.key.weight` (`W_a`); both `attention.combine.weight` and
/// `.bias` (`W_c`).
pub(crate) struct Attention {
    score: Score,
    query: Option<Linear>,
    key: Linear,
    v: Option<Linear>,
    combine: Linear,
}

impl Attention {
    /// For encoder and decoder states of width `hidden`.
    pub fn new(score: Score, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let plain = |name: &str, out: usize| {
            Linear::new(LinearConfig::new(hidden, out).with_bias(false), vb.pp(name))
        };
        let (query, v) = match score {
            Score::Additive => (
                Some(plain("query", hidden)?),
                Some(Linear::new(
                    LinearConfig::new(hidden, 1).with_bias(false),
                    vb.pp("v"),
                )?),
            ),
            Score::Multiplicative => (None, None),
        };
        Ok(Attention {
            score,
            query,
            key: plain("key", hidden)?,
            v,
            combine: Linear::new(LinearConfig::new(2 * hidden, hidden), vb.pp("combine"))?,
        })
    }

    /// The encoder's outputs projected once per source: `W_k e` (additive)
    /// or `W_a e` (multiplicative), `[batch, S, H]`.
    pub fn keys(&self, enc: &Tensor) -> Result<Tensor> {
        self.key.apply(enc)
    }

    /// The attentional states and the weights.
    ///
    /// # Parameters
    /// - `h`: decoder states `[batch, T, H]`.
    /// - `enc`: encoder outputs `[batch, S, H]`; `keys` from [`Attention::keys`].
    /// - `src_mask`: `[batch, S]`, 1 at real source steps (none: all real).
    ///
    /// # Returns
    /// `h~` `[batch, T, H]` and the weights `a` `[batch, T, S]`.
    pub fn forward(
        &self,
        h: &Tensor,
        enc: &Tensor,
        keys: &Tensor,
        src_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let scores = match (self.score, &self.query, &self.v) {
            (Score::Additive, Some(query), Some(v)) => {
                let q = query.apply(h)?.unsqueeze(2)?; // [batch, T, 1, H]
                let k = keys.unsqueeze(1)?; // [batch, 1, S, H]
                v.apply(&q.broadcast_add(&k)?.tanh()?)?.squeeze(3)? // [batch, T, S]
            }
            _ => h.matmul(&keys.transpose(1, 2)?)?, // [batch, T, S]
        };
        let scores = match src_mask {
            // Padded steps: a large negative score, whose weight underflows to 0.
            Some(m) => {
                let pad = (m
                    .unsqueeze(1)?
                    .to_dtype(scores.dtype())?
                    .affine(-1.0, 1.0)?
                    * -1e9)?;
                scores.broadcast_add(&pad)?
            }
            None => scores,
        };
        let weights = softmax(&scores)?; // [batch, T, S]
        let context = weights.matmul(enc)?; // [batch, T, H]
        let both = Tensor::cat(&[&context, h], D::Minus1)?;
        Ok((self.combine.apply(&both)?.tanh()?, weights))
    }
}
