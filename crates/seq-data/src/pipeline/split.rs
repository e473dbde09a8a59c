//! Seeded train/validation/test splits.

use seq_core::Rng;

use crate::{Error, Result};

/// Shuffles `0..n` with `seed` and cuts it by `fractions` (e.g. `[0.8, 0.1,
/// 0.1]`, summing to 1); the last part takes the rounding remainder.
pub fn split_indices(n: usize, fractions: &[f64], seed: u64) -> Result<Vec<Vec<usize>>> {
    let sum: f64 = fractions.iter().sum();
    if fractions.is_empty()
        || fractions.iter().any(|f| !(0.0..=1.0).contains(f))
        || (sum - 1.0).abs() > 1e-9
    {
        return Err(Error::Config(format!(
            "split fractions must be in [0, 1] and sum to 1, got {fractions:?}"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let mut parts = Vec::with_capacity(fractions.len());
    let mut start = 0;
    for (i, f) in fractions.iter().enumerate() {
        let end = if i + 1 == fractions.len() {
            n
        } else {
            (start + (f * n as f64).round() as usize).min(n)
        };
        parts.push(idx[start..end].to_vec());
        start = end;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_everything_once_and_repeat_with_the_seed() {
        let parts = split_indices(103, &[0.8, 0.1, 0.1], 5).unwrap();
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![82, 10, 11]
        );
        let mut all: Vec<usize> = parts.concat();
        all.sort();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        assert_eq!(parts, split_indices(103, &[0.8, 0.1, 0.1], 5).unwrap());
        assert!(split_indices(10, &[0.5, 0.6], 0).is_err());
    }
}
