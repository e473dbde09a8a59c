//! Text classification: a [`TextEncoder`] and a linear head, trained by
//! [`Trainer`](seq::train::Trainer) on padded batches of token ids.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use seq::core::{Dropout, Linear, LinearConfig, Mode, Result};
use seq::data::pipeline::{pad_sequences, Batcher, BatcherConfig, Side};
use seq::train::distributed::shard_rows;
use seq::train::metrics::ConfusionMatrix;
use seq::train::{loss, DataSource, Planned, Task};

use super::encoder::{EncoderConfig, Kind, TextEncoder};

/// Token ids `[batch, time]` (padded after the text), classes `[batch]`
/// (u32), and which of the texts these are.
#[derive(Clone)]
pub struct TextBatch {
    pub ids: Tensor,
    pub labels: Tensor,
    pub rows: Vec<usize>,
}

/// The batches of `size` texts (bucketed by length so that little is
/// padding) that `seed` and `epoch` draw.
pub fn plan(ids: &[Vec<u32>], size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    let config = BatcherConfig {
        bucket: 8,
        prefetch: 0,
        shuffle: Some(seed),
        ..BatcherConfig::new(size)
    };
    Batcher::new(config).plan(&lengths, epoch as u64)
}

/// The texts `rows`, padded after their ends, with their labels.
fn collate(
    ids: &[Vec<u32>],
    labels: &[u32],
    rows: Vec<usize>,
    device: &Device,
) -> Result<TextBatch> {
    let seqs: Vec<&[u32]> = rows.iter().map(|&i| ids[i].as_slice()).collect();
    let padded = pad_sequences(&seqs, None, Side::Post, Side::Post, 0)?;
    let y: Vec<u32> = rows.iter().map(|&i| labels[i]).collect();
    Ok(TextBatch {
        ids: Tensor::from_vec(padded.ids, (padded.batch, padded.time), device)?,
        labels: Tensor::from_vec(y, rows.len(), device)?,
        rows,
    })
}

/// Texts as batches of about `size`, bucketed by length; one fixed plan
/// (for evaluation).
pub fn text_batches(
    ids: &[Vec<u32>],
    labels: &[u32],
    size: usize,
    device: &Device,
) -> Result<Vec<TextBatch>> {
    plan(ids, size, 0, 0)
        .into_iter()
        .map(|rows| collate(ids, labels, rows, device))
        .collect()
}

/// Texts as training data: batches of about `size` drawn afresh every
/// epoch from the run's seed (members reshuffled, length buckets redrawn)
/// and padded on the trainer's loader threads. As rank `rank` of `world`
/// (data-parallel training), this process takes its share of each batch.
pub fn text_source<'a>(
    ids: &'a [Vec<u32>],
    labels: &'a [u32],
    size: usize,
    (rank, world): (usize, usize),
    device: &'a Device,
) -> impl DataSource<Batch = TextBatch> + 'a {
    Planned::new(
        move |epoch, seed| {
            let batches = plan(ids, size, seed, epoch);
            Ok(batches.iter().map(|b| shard_rows(b, rank, world)).collect())
        },
        move |rows| Ok(collate(ids, labels, rows, device)?),
    )
}

/// Many-to-one: token ids to class scores. Two classes get one logit (the
/// second class's, trained with binary cross-entropy), more get one each
/// (softmax cross-entropy). Parameters: `embedding.*`, `encoder.*`, `head.*`.
pub struct Classifier {
    encoder: TextEncoder,
    dropout: Dropout,
    head: Linear,
    classes: usize,
}

impl Classifier {
    pub fn new(c: EncoderConfig, classes: usize, vb: VarBuilder) -> Result<Self> {
        if c.kind == Kind::NbBag && classes != 2 {
            return Err(seq::core::Error::config(
                "Classifier",
                format!("the Naive-Bayes bag (nb-bag) tells two classes apart, not {classes}"),
            ));
        }
        let encoder = TextEncoder::new(c, vb.clone())?;
        let outputs = if classes == 2 { 1 } else { classes };
        let head = Linear::new(LinearConfig::new(encoder.width(), outputs), vb.pp("head"))?;
        Ok(Classifier {
            encoder,
            dropout: Dropout::new(c.dropout, 2)?,
            head,
            classes,
        })
    }

    /// The encoder.
    pub fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }

    /// Token ids `[batch, time]` to logits `[batch, outputs]`.
    pub fn logits(&self, ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let features = self.encoder.forward(ids, mode)?; // [batch, width]
        self.head.apply(&self.dropout.apply(&features, mode)?)
    }

    /// The probability of each class `[batch][classes]`.
    pub fn probabilities(&self, ids: &Tensor) -> Result<Vec<Vec<f32>>> {
        let z = self.logits(ids, Mode::Eval)?;
        let p = if self.classes == 2 {
            let pos = candle_nn::ops::sigmoid(&z)?; // [batch, 1]
            Tensor::cat(&[pos.affine(-1.0, 1.0)?, pos], 1)?
        } else {
            candle_nn::ops::softmax(&z, D::Minus1)?
        };
        Ok(p.to_dtype(DType::F32)?.to_vec2()?)
    }

    /// The true and the predicted class of every text in `batches`.
    pub fn predictions(&self, batches: &[TextBatch]) -> Result<(Vec<usize>, Vec<usize>)> {
        let (mut truth, mut predicted) = (Vec::new(), Vec::new());
        for b in batches {
            truth.extend(b.labels.to_vec1::<u32>()?.into_iter().map(|l| l as usize));
            predicted.extend(self.probabilities(&b.ids)?.iter().map(|p| argmax(p)));
        }
        Ok((truth, predicted))
    }

    /// The confusion matrix over `batches`.
    pub fn confusion(&self, batches: &[TextBatch]) -> Result<ConfusionMatrix> {
        let (truth, predicted) = self.predictions(batches)?;
        ConfusionMatrix::new(self.classes, &truth, &predicted)
            .map_err(|e| seq::core::Error::config("Classifier", e))
    }
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |best, i| if p[i] > p[best] { i } else { best })
}

impl Task<TextBatch> for Classifier {
    fn loss(&self, b: &TextBatch, mode: Mode) -> Result<Tensor> {
        let z = self.logits(&b.ids, mode)?;
        if self.classes == 2 {
            let y = b.labels.to_dtype(z.dtype())?.unsqueeze(1)?; // [batch, 1]
            loss::bce_with_logits(&z, &y)
        } else {
            loss::cross_entropy(&z, &b.labels, None, 0.0)
        }
    }

    fn metrics(&self, batches: &[TextBatch]) -> Result<Vec<(String, f64)>> {
        let cm = self.confusion(batches)?;
        Ok(vec![
            ("accuracy".into(), cm.accuracy()),
            ("macro_f1".into(), cm.macro_f1()),
        ])
    }

    fn size(&self, b: &TextBatch) -> usize {
        b.labels.dims()[0]
    }
}
