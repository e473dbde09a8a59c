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

/// [`split_indices`] within each class, so that every part keeps the
/// classes' proportions (scikit-learn's `stratify=`): `labels[i]` is the
/// class of item `i`; each part lists its items in ascending order.
pub fn split_stratified(labels: &[usize], fractions: &[f64], seed: u64) -> Result<Vec<Vec<usize>>> {
    let classes = labels.iter().max().map_or(0, |&m| m + 1);
    let mut members = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l].push(i);
    }
    let mut parts = vec![Vec::new(); fractions.len()];
    for (c, items) in members.iter().enumerate() {
        let within = split_indices(items.len(), fractions, seed.wrapping_add(c as u64))?;
        for (part, idx) in parts.iter_mut().zip(within) {
            part.extend(idx.into_iter().map(|j| items[j]));
        }
    }
    if classes == 0 {
        split_indices(0, fractions, seed)?; // the fractions are still checked
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    Ok(parts)
}

/// The `k` test folds of k-fold cross-validation (scikit-learn's
/// `KFold(shuffle=True)`): `0..n` shuffled with `seed` and dealt into `k`
/// parts whose sizes differ by at most one, each in ascending order. Run
/// `i` tests on fold `i` and trains on the rest; every item is tested once.
/// `k` must be in `2..=n`.
pub fn k_folds(n: usize, k: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if k < 2 || k > n {
        return Err(Error::Config(format!(
            "k-fold cross-validation needs 2 <= k <= the number of items, got k = {k} for {n} items"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let mut folds = vec![Vec::with_capacity(n / k + 1); k];
    for (position, &i) in idx.iter().enumerate() {
        folds[position % k].push(i);
    }
    for fold in &mut folds {
        fold.sort_unstable();
    }
    Ok(folds)
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

    #[test]
    fn folds_partition_the_items_into_near_equal_parts() {
        let folds = k_folds(23, 5, 9).unwrap();
        assert_eq!(
            folds.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![5, 5, 5, 4, 4]
        );
        let mut all = folds.concat();
        all.sort();
        assert_eq!(all, (0..23).collect::<Vec<_>>());
        assert_eq!(folds, k_folds(23, 5, 9).unwrap());
        assert_ne!(folds, k_folds(23, 5, 10).unwrap());
        assert!(k_folds(23, 1, 0).is_err());
        assert!(k_folds(3, 4, 0).is_err());
    }

    #[test]
    fn stratified_parts_keep_each_class_proportion() {
        // 60 of class 0, 30 of class 1, 10 of class 2, interleaved.
        let labels: Vec<usize> = (0..100)
            .map(|i| match i % 10 {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            })
            .collect();
        let parts = split_stratified(&labels, &[0.7, 0.1, 0.2], 3).unwrap();
        let count = |part: &[usize], c: usize| part.iter().filter(|&&i| labels[i] == c).count();
        let counts: Vec<Vec<usize>> = parts
            .iter()
            .map(|p| (0..3).map(|c| count(p, c)).collect())
            .collect();
        assert_eq!(counts, vec![vec![42, 21, 7], vec![6, 3, 1], vec![12, 6, 2]]);
        let mut all = parts.concat();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert!(split_stratified(&labels, &[0.5, 0.6], 0).is_err());
        assert!(split_stratified(&[], &[0.5, 0.6], 0).is_err());
    }
}
