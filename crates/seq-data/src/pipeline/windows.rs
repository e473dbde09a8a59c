//! Time-series windows like Keras' `timeseries_dataset_from_array`, and
//! normalisation statistics fitted on the training part only.

use crate::{Error, Result};

/// Windows over a series of `len` rows: each input is `sequence_length`
/// rows taken every `sampling_rate` rows, windows start every
/// `sequence_stride` rows, and the target is the row `target_offset` rows
/// after the window's start (Keras: `data[i:i+length*rate:rate]`, target
/// `targets[i + offset]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Rows per input window.
    pub sequence_length: usize,
    /// Rows between two rows of a window.
    pub sampling_rate: usize,
    /// Rows between two windows' starts.
    pub sequence_stride: usize,
    /// Rows from a window's start to its target.
    pub target_offset: usize,
}

impl Windows {
    /// The start rows of every window within `rows` (a range of the series)
    /// whose inputs and target fit in it.
    pub fn starts(&self, rows: std::ops::Range<usize>) -> Result<Vec<usize>> {
        if self.sequence_length == 0 || self.sampling_rate == 0 || self.sequence_stride == 0 {
            return Err(Error::Config(format!(
                "window sizes must be positive, got {self:?}"
            )));
        }
        // Sizes from options: a span that overflows is one no series holds.
        let span = (self.sequence_length - 1)
            .checked_mul(self.sampling_rate)
            .map(|s| s.max(self.target_offset))
            .ok_or_else(|| {
                Error::Config(format!("windows of {self:?} span more rows than can exist"))
            })?;
        let mut out = Vec::new();
        let mut s = rows.start;
        while s.checked_add(span).is_some_and(|end| end < rows.end) {
            out.push(s);
            let Some(next) = s.checked_add(self.sequence_stride) else {
                break;
            };
            s = next;
        }
        Ok(out)
    }

    /// The rows of the window starting at `start`.
    pub fn rows(&self, start: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.sequence_length).map(move |k| start + k * self.sampling_rate)
    }

    /// The target row of the window starting at `start`.
    pub fn target(&self, start: usize) -> usize {
        start + self.target_offset
    }
}

/// Per-column mean and standard deviation.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations (1 where a column is constant).
    pub std: Vec<f64>,
}

impl Normalizer {
    /// Fits on `rows` of `values` (`values[row][column]`): the training part only.
    pub fn fit(values: &[Vec<f64>], rows: std::ops::Range<usize>) -> Result<Self> {
        let part = values
            .get(rows.clone())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "cannot fit a normaliser on rows {rows:?} of {}",
                    values.len()
                ))
            })?;
        let width = part[0].len();
        let n = part.len() as f64;
        let mean: Vec<f64> = (0..width)
            .map(|c| part.iter().map(|r| r[c]).sum::<f64>() / n)
            .collect();
        let std = (0..width)
            .map(|c| {
                let s = (part.iter().map(|r| (r[c] - mean[c]).powi(2)).sum::<f64>() / n).sqrt();
                if s > 0.0 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Normalizer { mean, std })
    }

    /// `(x - mean) / std` for every row.
    pub fn apply(&self, values: &[Vec<f64>]) -> Vec<Vec<f64>> {
        values
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(c, v)| (v - self.mean[c]) / self.std[c])
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_keras() {
        // Keras: data 0..10, length 3, rate 2, stride 3, targets at i + 4.
        let w = Windows {
            sequence_length: 3,
            sampling_rate: 2,
            sequence_stride: 3,
            target_offset: 4,
        };
        let starts = w.starts(0..10).unwrap();
        assert_eq!(starts, vec![0, 3]);
        assert_eq!(w.rows(3).collect::<Vec<_>>(), vec![3, 5, 7]);
        assert_eq!(w.target(3), 7);
    }

    #[test]
    fn normalisation_uses_the_training_rows_only() {
        let v = vec![vec![1.0], vec![3.0], vec![100.0]];
        let n = Normalizer::fit(&v, 0..2).unwrap();
        assert_eq!((n.mean[0], n.std[0]), (2.0, 1.0));
        assert_eq!(n.apply(&v)[2][0], 98.0);
    }
}
