//! Naive-Bayes log-count ratios (Wang & Manning 2012, NBSVM): how much
//! more often a feature appears in the texts of one class than in those of
//! the other, the weighting of a Naive-Bayes bag of words.

use crate::{Error, Result};

/// The log-count ratio of each of the `vocab` ids over `texts` of classes
/// `labels` (0 or 1): `r = log((p / |p|_1) / (q / |q|_1))`, where `p` counts
/// the positive texts holding the id plus one (Laplace smoothing) and `q`
/// the negative ones; a text counts an id once however often it holds it.
/// Id 0 (padding) gets 0.
pub fn log_count_ratios(texts: &[Vec<u32>], labels: &[u32], vocab: usize) -> Result<Vec<f32>> {
    if texts.len() != labels.len() {
        return Err(Error::Config(format!(
            "log-count ratios: {} texts but {} labels",
            texts.len(),
            labels.len()
        )));
    }
    let (mut p, mut q) = (vec![1.0f64; vocab], vec![1.0f64; vocab]);
    let mut seen = vec![usize::MAX; vocab];
    for (n, (text, &label)) in texts.iter().zip(labels).enumerate() {
        let counts = match label {
            0 => &mut q,
            1 => &mut p,
            other => {
                return Err(Error::Config(format!(
                    "log-count ratios: classes are 0 and 1, text {n} is of class {other}"
                )))
            }
        };
        for &id in text {
            let id = id as usize;
            if id >= vocab {
                return Err(Error::Config(format!(
                    "log-count ratios: text {n} holds id {id}, outside the vocabulary of {vocab}"
                )));
            }
            if seen[id] != n {
                seen[id] = n;
                counts[id] += 1.0;
            }
        }
    }
    let (p_sum, q_sum): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let mut ratios: Vec<f32> = p
        .iter()
        .zip(&q)
        .map(|(p, q)| ((p / p_sum) / (q / q_sum)).ln() as f32)
        .collect();
    if let Some(padding) = ratios.first_mut() {
        *padding = 0.0;
    }
    Ok(ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_follow_the_smoothed_counts() {
        // id 1 in both positive texts (once counted twice in one), id 2 in
        // the negative one, id 3 nowhere.
        let texts = vec![vec![1, 1], vec![1, 2], vec![2]];
        let r = log_count_ratios(&texts, &[1, 1, 0], 4).unwrap();
        // p = [1, 3, 2, 1] (sum 7), q = [1, 1, 2, 1] (sum 5).
        let expect = |p: f64, q: f64| ((p / 7.0) / (q / 5.0)).ln() as f32;
        assert_eq!(
            r,
            vec![0.0, expect(3.0, 1.0), expect(2.0, 2.0), expect(1.0, 1.0)]
        );
        assert!(log_count_ratios(&texts, &[1, 2, 0], 4).is_err());
        assert!(log_count_ratios(&texts, &[1, 1, 0], 2).is_err());
    }
}
