//! Retrieval by cosine similarity and its mean average precision; the
//! bag-of-words vectors of the baselines.

use seq::core::Rng;

/// `v / |v|` (zero stays zero).
pub fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The cosine similarity of every pair of dense vectors `[n][n]`.
pub fn cosine(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let unit: Vec<Vec<f32>> = vectors.iter().cloned().map(normalize).collect();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum();
    unit.iter()
        .map(|a| unit.iter().map(|b| dot(a, b)).collect())
        .collect()
}

/// A sparse vector: `(token id, weight)` by increasing id.
pub type Sparse = Vec<(u32, f32)>;

/// Each text's word counts (ids 0 and 1, padding and unknown, left out),
/// times `idf` when given.
pub fn bag_of_words(ids: &[Vec<u32>], idf: Option<&[f32]>) -> Vec<Sparse> {
    ids.iter()
        .map(|text| {
            let mut ids: Vec<u32> = text.iter().copied().filter(|&t| t > 1).collect();
            ids.sort_unstable();
            let mut bag: Sparse = Vec::new();
            for t in ids {
                match bag.last_mut() {
                    Some((last, w)) if *last == t => *w += 1.0,
                    _ => bag.push((t, 1.0)),
                }
            }
            if let Some(idf) = idf {
                bag.iter_mut().for_each(|(t, w)| *w *= idf[*t as usize]);
            }
            bag
        })
        .collect()
}

/// Inverse document frequencies from `texts` (scikit-learn's smoothed
/// `ln((1 + n) / (1 + df)) + 1`).
pub fn idf(texts: &[Vec<u32>], vocab: usize) -> Vec<f32> {
    let mut df = vec![0usize; vocab];
    for text in texts {
        let mut seen: Vec<u32> = text.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.iter().for_each(|&t| df[t as usize] += 1);
    }
    let n = texts.len() as f32;
    df.iter()
        .map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
        .collect()
}

/// The cosine similarity of every pair of sparse vectors `[n][n]`.
pub fn cosine_sparse(bags: &[Sparse]) -> Vec<Vec<f32>> {
    let norm = |a: &Sparse| a.iter().map(|(_, w)| w * w).sum::<f32>().sqrt().max(1e-12);
    let norms: Vec<f32> = bags.iter().map(norm).collect();
    let dot = |a: &Sparse, b: &Sparse| {
        let (mut i, mut j, mut s) = (0, 0, 0.0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    s += a[i].1 * b[j].1;
                    (i, j) = (i + 1, j + 1);
                }
            }
        }
        s
    };
    bags.iter()
        .enumerate()
        .map(|(i, a)| {
            bags.iter()
                .enumerate()
                .map(|(j, b)| dot(a, b) / (norms[i] * norms[j]))
                .collect()
        })
        .collect()
}

/// Similarities drawn at random (seeded): the score of a random ranking.
pub fn random(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| (0..n).map(|_| rng.uniform() as f32).collect())
        .collect()
}

/// Each text queries the texts of the other documents, ranked by `sims`;
/// those with its label are relevant. The mean over queries (with at least
/// one relevant text) of the average precision
/// `1/R sum_k precision@k * relevant(k)`.
pub fn mean_average_precision(sims: &[Vec<f32>], labels: &[u32], docs: &[u32]) -> f64 {
    let mut total = 0.0;
    let mut queries = 0usize;
    for q in 0..labels.len() {
        let mut others: Vec<usize> = (0..labels.len()).filter(|&j| docs[j] != docs[q]).collect();
        others.sort_by(|&a, &b| sims[q][b].total_cmp(&sims[q][a]));
        let (mut hits, mut sum) = (0usize, 0.0);
        for (k, &j) in others.iter().enumerate() {
            if labels[j] == labels[q] {
                hits += 1;
                sum += hits as f64 / (k + 1) as f64;
            }
        }
        if hits > 0 {
            total += sum / hits as f64;
            queries += 1;
        }
    }
    total / queries.max(1) as f64
}
