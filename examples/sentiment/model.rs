//! The sentiment classifier: embeddings, a sequence encoder, one logit.

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use seq::core::{Embedding, EmbeddingConfig, Linear, LinearConfig, Mode, Module, Result, Seq};

/// The sizes of the classifier.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub vocab: usize,
    pub embed: usize,
}

/// Bag of embeddings (Joulin et al., 2017, "fastText"): the mean of the
/// word vectors of the real (unpadded) steps, then one logit.
pub struct Classifier {
    embedding: Embedding,
    head: Linear,
}

impl Classifier {
    pub fn new(c: Config, vb: VarBuilder) -> Result<Self> {
        let embedding = Embedding::new(
            EmbeddingConfig::new(c.vocab, c.embed).with_padding_idx(0),
            vb.pp("embedding"),
        )?;
        let head = Linear::new(LinearConfig::new(c.embed, 1), vb.pp("head"))?;
        Ok(Classifier { embedding, head })
    }

    /// Token ids `[batch, time]` to logits `[batch, 1]`.
    pub fn logits(&self, ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let xs = self.embedding.forward(&Seq::from_ids(ids.clone())?, mode)?; // [batch, time, embed]
        let (values, mask) = xs.into_parts();
        let mask = mask.expect("the embedding has a padding id, so a mask"); // [batch, time]
        let sum = values.sum(1)?; // padded steps are zero vectors: [batch, embed]
        let count = mask.sum_keepdim(D::Minus1)?.clamp(1.0, f64::INFINITY)?; // [batch, 1]
        let mean = sum.broadcast_div(&count)?;
        self.head.apply(&mean)
    }
}

/// Binary cross-entropy from logits, `mean(max(z, 0) - z y + log(1 + exp(-|z|)))`:
/// stable for any logit (candle-nn's version takes `log(sigmoid(z))`, which
/// is `-inf` once the model is confident, and then NaN).
pub fn bce_with_logits(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let softplus = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok((z.relu()? - (z * y)?)?.add(&softplus)?.mean_all()?)
}
