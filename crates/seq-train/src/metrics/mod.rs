//! Metrics: classification (accuracy, precision, recall, F1, confusion
//! matrix), regression (MAE, RMSE), language modelling (perplexity) and
//! translation ([`bleu`], as sacreBLEU computes it), transcription
//! ([`edit`]: character and word error rates).

pub mod bleu;
pub mod edit;

use std::fmt;

/// A confusion matrix over `n` classes: `counts[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[t][p]`: examples of class `t` predicted as `p`.
    pub counts: Vec<Vec<usize>>,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScores {
    /// Right among those predicted as the class (0 when none was).
    pub precision: f64,
    /// Found among those of the class (0 when there were none).
    pub recall: f64,
    /// Harmonic mean of the two (0 when both are 0).
    pub f1: f64,
    /// Examples of the class.
    pub support: usize,
}

impl ConfusionMatrix {
    /// Counts `(truth, predicted)` pairs over `n` classes; labels at or above
    /// `n` are an error naming the first.
    pub fn new(n: usize, truth: &[usize], predicted: &[usize]) -> Result<Self, String> {
        if truth.len() != predicted.len() {
            return Err(format!(
                "{} true labels but {} predictions",
                truth.len(),
                predicted.len()
            ));
        }
        let mut counts = vec![vec![0; n]; n];
        for (i, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
            if t >= n || p >= n {
                return Err(format!(
                    "example {i}: label {} is not one of {n} classes",
                    t.max(p)
                ));
            }
            counts[t][p] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// Right predictions over all.
    pub fn accuracy(&self) -> f64 {
        let total: usize = self.counts.iter().flatten().sum();
        let right: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        if total == 0 {
            0.0
        } else {
            right as f64 / total as f64
        }
    }

    /// Precision, recall and F1 of every class.
    pub fn per_class(&self) -> Vec<ClassScores> {
        let n = self.counts.len();
        (0..n)
            .map(|c| {
                let tp = self.counts[c][c] as f64;
                let predicted: usize = (0..n).map(|t| self.counts[t][c]).sum();
                let support: usize = self.counts[c].iter().sum();
                let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect()
    }

    /// The unweighted mean of the classes' F1 (macro-F1).
    pub fn macro_f1(&self) -> f64 {
        let per = self.per_class();
        per.iter().map(|c| c.f1).sum::<f64>() / per.len().max(1) as f64
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "truth \\ predicted")?;
        for (t, row) in self.counts.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
            writeln!(f, "{t:>5} {}", cells.join(""))?;
        }
        Ok(())
    }
}

/// Mean absolute error.
pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / pred.len().max(1) as f64
}

/// Root mean squared error.
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    (pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len().max(1) as f64)
        .sqrt()
}

/// Perplexity from the mean negative log-likelihood per token (in nats).
pub fn perplexity(mean_nll: f64) -> f64 {
    mean_nll.exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_of_a_small_confusion_matrix() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let m = ConfusionMatrix::new(3, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]).unwrap();
        assert_eq!(m.counts, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!((m.accuracy() - 4.0 / 6.0).abs() < 1e-15);
        let c = m.per_class();
        // class 0: p = 2/2, r = 2/3; class 1: p = 1/2, r = 1/2; class 2: p = 1/2, r = 1
        assert!((c[0].f1 - 0.8).abs() < 1e-15);
        assert!((c[1].f1 - 0.5).abs() < 1e-15);
        assert!((c[2].f1 - 2.0 / 3.0).abs() < 1e-15);
        assert!((m.macro_f1() - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-15);
        assert!(ConfusionMatrix::new(2, &[0, 2], &[0, 1]).is_err());
    }

    #[test]
    fn regression_and_perplexity() {
        assert!((mae(&[1.0, 2.0], &[2.0, 4.0]) - 1.5).abs() < 1e-15);
        assert!((rmse(&[1.0, 2.0], &[2.0, 4.0]) - 2.5f64.sqrt()).abs() < 1e-15);
        assert!((perplexity(2f64.ln()) - 2.0).abs() < 1e-12);
    }
}
