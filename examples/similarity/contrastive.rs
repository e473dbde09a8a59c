//! The embedder and its training loss: the supervised contrastive loss of
//! Khosla et al. (2020) over the passages of a batch, genres as classes.

use candle_core::{Tensor, D};
use seq::core::{Mode, Result};
use seq::train::Task;

use crate::common::classifier::TextBatch;
use crate::common::encoder::TextEncoder;
use crate::retrieval;

/// A text encoder whose vectors, scaled to unit length, are compared by
/// cosine similarity.
pub struct Embedder {
    encoder: TextEncoder,
    temperature: f64,
    /// The document of each validation passage (retrieval skips its own).
    val_docs: Vec<u32>,
}

impl Embedder {
    pub fn new(encoder: TextEncoder, temperature: f64, val_docs: Vec<u32>) -> Self {
        Embedder {
            encoder,
            temperature,
            val_docs,
        }
    }

    /// The text encoder being trained.
    pub fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }

    /// Unit vectors `[batch, width]` of token ids `[batch, time]`.
    pub fn vectors(&self, ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let v = self.encoder.forward(ids, mode)?; // [batch, width]
        let norm = v
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .affine(1.0, 1e-12)?
            .sqrt()?; // [batch, 1]
        Ok(v.broadcast_div(&norm)?)
    }

    /// The vector of each of the `n` texts in `batches`, in the texts' order.
    pub fn embeddings(&self, batches: &[TextBatch], n: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::new(); n];
        for b in batches {
            let v: Vec<Vec<f32>> = self.vectors(&b.ids, Mode::Eval)?.to_vec2()?;
            for (&row, v) in b.rows.iter().zip(v) {
                out[row] = v;
            }
        }
        Ok(out)
    }
}

/// `-1/|P(i)| sum_{p in P(i)} log(exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t))`
/// averaged over the anchors `i` that have positives `P(i)` (the other
/// passages of their genre in the batch).
///
/// # Parameters
/// - `z`: unit vectors `[batch, width]`; `labels`: their classes.
pub fn supervised_contrastive(z: &Tensor, labels: &[u32], temperature: f64) -> Result<Tensor> {
    let b = labels.len();
    let dev = z.device();
    let same = |i: usize, j: usize| i != j && labels[i] == labels[j];
    let positives: Vec<f32> = (0..b * b).map(|k| f32::from(same(k / b, k % b))).collect();
    let positives = Tensor::from_vec(positives, (b, b), dev)?.to_dtype(z.dtype())?; // [batch, batch]
    let eye = Tensor::eye(b, z.dtype(), dev)?;
    let logits = ((z.matmul(&z.t()?)? / temperature)? - (eye * 1e4)?)?; // self left out
    let m = logits.max_keepdim(D::Minus1)?.detach(); // [batch, 1]
    let lse = (logits
        .broadcast_sub(&m)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        + m)?;
    let log_prob = logits.broadcast_sub(&lse)?; // [batch, batch]
    let count = positives.sum(D::Minus1)?; // [batch]
    let anchors = count.gt(0.0)?.to_dtype(z.dtype())?; // [batch]
    let per_anchor =
        ((positives * log_prob)?.sum(D::Minus1)? / count.clamp(1.0, f64::INFINITY)?)?;
    let n = anchors
        .sum_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    Ok(((per_anchor * anchors)?.sum_all()? / -n.max(1.0))?)
}

impl Task<TextBatch> for Embedder {
    fn loss(&self, b: &TextBatch, mode: Mode) -> Result<Tensor> {
        let labels: Vec<u32> = b.labels.to_vec1()?;
        supervised_contrastive(&self.vectors(&b.ids, mode)?, &labels, self.temperature)
    }

    /// `map`: same-genre retrieval among the passages, other documents only.
    fn metrics(&self, batches: &[TextBatch]) -> Result<Vec<(String, f64)>> {
        let n = self.val_docs.len();
        let mut labels = vec![0u32; n];
        for b in batches {
            for (&row, l) in b.rows.iter().zip(b.labels.to_vec1::<u32>()?) {
                labels[row] = l;
            }
        }
        let sims = retrieval::cosine(&self.embeddings(batches, n)?);
        let map = retrieval::mean_average_precision(&sims, &labels, &self.val_docs);
        Ok(vec![("map".into(), map)])
    }

    fn size(&self, b: &TextBatch) -> usize {
        b.rows.len()
    }
}
