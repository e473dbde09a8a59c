//! Text for the sentiment example: the labelled TSV reader, the vocabulary
//! and padded batches of token ids.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

/// One labelled review: `label` 1 for positive, 0 for negative.
pub struct Review {
    pub label: u32,
    pub text: String,
}

/// Reads a TSV with a header naming a `label` column (`pos`/`neg`) and a
/// `text` column; CSV quoting rules, tab-delimited.
pub fn read_reviews(path: &Path) -> Result<Vec<Review>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_path(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{}: no `{name}` column in the header {headers:?}",
                path.display()
            )
        })
    };
    let (label_col, text_col) = (col("label")?, col("text")?);
    let mut reviews = Vec::new();
    for (i, record) in rdr.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("{}:{line}: {e}", path.display()))?;
        let label = match &record[label_col] {
            "pos" => 1,
            "neg" => 0,
            other => {
                return Err(format!(
                    "{}:{line}: label must be `pos` or `neg`, got {other:?}",
                    path.display()
                ))
            }
        };
        reviews.push(Review {
            label,
            text: record[text_col].to_string(),
        });
    }
    if reviews.is_empty() {
        return Err(format!("{}: no reviews", path.display()));
    }
    Ok(reviews)
}

/// Lowercase, punctuation stripped (apostrophes inside words kept), split
/// on whitespace: Keras' `TextVectorization` default standardisation.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Word ids: 0 is padding, 1 is unknown, then words by falling frequency.
pub struct Vocab {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    pub const PAD: u32 = 0;
    pub const UNK: u32 = 1;

    /// The words of `texts` seen at least `min_count` times, at most `max_size` ids in all.
    pub fn build<'a>(
        texts: impl Iterator<Item = &'a str>,
        min_count: usize,
        max_size: usize,
    ) -> Vocab {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for t in texts {
            for w in words(t) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut by_count: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count)
            .collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut all = vec!["[PAD]".to_string(), "[UNK]".to_string()];
        all.extend(
            by_count
                .into_iter()
                .map(|(w, _)| w)
                .take(max_size.saturating_sub(2)),
        );
        Vocab::from_words(all)
    }

    fn from_words(words: Vec<String>) -> Vocab {
        let ids = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Vocab { words, ids }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = words(text)
            .iter()
            .map(|w| *self.ids.get(w).unwrap_or(&Self::UNK))
            .collect();
        ids.truncate(max_len);
        if ids.is_empty() {
            ids.push(Self::UNK);
        }
        ids
    }

    /// One word a line; the line number is the id.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.words.join("\n")).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Vocab, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e} (train a model first)", path.display()))?;
        Ok(Vocab::from_words(text.lines().map(str::to_owned).collect()))
    }
}

/// Token ids `[batch, time]`, padded with 0 after the text, and the labels `[batch, 1]`.
pub fn batch(
    seqs: &[&[u32]],
    labels: &[u32],
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let t = seqs.iter().map(|s| s.len()).max().unwrap_or(1);
    let flat: Vec<u32> = seqs
        .iter()
        .flat_map(|s| {
            s.iter()
                .copied()
                .chain(std::iter::repeat(Vocab::PAD))
                .take(t)
        })
        .collect();
    let ids = Tensor::from_vec(flat, (seqs.len(), t), device)?;
    let y: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
    let y = Tensor::from_vec(y, (labels.len(), 1), device)?;
    Ok((ids, y))
}
