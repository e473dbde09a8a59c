//! The cases of a UCR/UEA file as batches (each series z-normalised per
//! dimension, padded to the longest case, with its mask) and the
//! classifier's loss and accuracy on them.

use candle_core::{DType, Tensor};
use seq::core::{Mode, Seq};
use seq::data::readers::ucr::TsDataset;
use seq::train::Task;

use crate::common::Error;
use crate::model::Classifier;

/// Series `[batch, time, dims]` with their mask, and class ids `[batch]`.
#[derive(Clone)]
pub struct Batch {
    pub xs: Seq,
    pub y: Tensor,
}

/// Each case z-normalised per dimension, padded after its end to the
/// longest case; batches of 16 in file order (the sets are small). Labels
/// are ids into `classes` (the training file's, for both files).
pub fn batches(ds: &TsDataset, classes: &[String]) -> Result<Vec<Batch>, Error> {
    let labels = ds.label_ids_in(classes)?;
    labelled_batches(ds, &labels)
}

/// [`batches`] with the labels given as class ids.
pub fn labelled_batches(ds: &TsDataset, labels: &[usize]) -> Result<Vec<Batch>, Error> {
    let idx: Vec<usize> = (0..ds.series.len()).collect();
    Ok(idx
        .chunks(16)
        .map(|chunk| batch(ds, labels, chunk))
        .collect::<seq::core::Result<_>>()?)
}

/// The cases `chunk` of `ds` as one batch (see [`batches`]).
fn batch(ds: &TsDataset, labels: &[usize], chunk: &[usize]) -> seq::core::Result<Batch> {
    let dims = ds.dims();
    let t = ds.lengths().into_iter().max().unwrap_or(1);
    let mut x = vec![0f32; chunk.len() * t * dims];
    let mut lengths = Vec::with_capacity(chunk.len());
    for (b, &i) in chunk.iter().enumerate() {
        let case = &ds.series[i];
        let len = case.iter().map(Vec::len).max().unwrap_or(0);
        lengths.push(len);
        for (d, series) in case.iter().enumerate() {
            let real: Vec<f64> = series.iter().copied().filter(|v| v.is_finite()).collect();
            let mean = real.iter().sum::<f64>() / real.len().max(1) as f64;
            let std = (real.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                / real.len().max(1) as f64)
                .sqrt()
                .max(1e-8);
            for (s, v) in series.iter().enumerate() {
                x[(b * t + s) * dims + d] = if v.is_finite() {
                    ((v - mean) / std) as f32
                } else {
                    0.0
                };
            }
        }
    }
    let y: Vec<u32> = chunk.iter().map(|&i| labels[i] as u32).collect();
    let xs = Seq::new(Tensor::from_vec(
        x,
        (chunk.len(), t, dims),
        &candle_core::Device::Cpu,
    )?)?
    .with_lengths(&lengths)?;
    Ok(Batch {
        xs,
        y: Tensor::from_vec(y, chunk.len(), &candle_core::Device::Cpu)?,
    })
}

impl Task<Batch> for Classifier {
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        seq::train::loss::cross_entropy(&self.logits(&b.xs, mode)?, &b.y, None, 0.0)
    }

    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut right, mut n) = (0, 0);
        for b in batches {
            let pred: Vec<u32> = self
                .logits(&b.xs, Mode::Eval)?
                .argmax(1)?
                .to_dtype(DType::U32)?
                .to_vec1()?;
            let y: Vec<u32> = b.y.to_vec1()?;
            right += pred.iter().zip(&y).filter(|(p, y)| p == y).count();
            n += y.len();
        }
        Ok(vec![("accuracy".into(), right as f64 / n.max(1) as f64)])
    }

    fn size(&self, b: &Batch) -> usize {
        b.y.dims()[0]
    }
}
