//! English-Spanish pairs, split by unique English sentence: every
//! translation of one English sentence lands in the same part, so no test
//! sentence was seen in training under another translation.

use std::collections::HashMap;
use std::path::Path;

use seq::data::pipeline::split_indices;
use seq::data::readers::text::read_pairs;

use crate::common::Error;

/// `(english, spanish)`.
pub type Pair = (String, String);

/// The three parts. The test part has one pair per English sentence (its
/// first translation in the file is the reference).
pub struct Splits {
    pub train: Vec<Pair>,
    pub val: Vec<Pair>,
    pub test: Vec<Pair>,
}

/// Reads `english`/`spanish` columns of `path`, keeps pairs whose sides
/// have at most `max_words` words, and splits the unique English
/// sentences 90/5/5.
pub fn load(path: &Path, max_words: usize, seed: u64) -> Result<Splits, Error> {
    let pairs = read_pairs(path, "english", "spanish")?;
    let fits = |s: &str| (1..=max_words).contains(&s.split_whitespace().count());
    let mut by_english: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (en, es) in pairs {
        if !fits(&en) || !fits(&es) {
            continue;
        }
        let i = *index.entry(en.clone()).or_insert_with(|| {
            by_english.push((en, Vec::new()));
            by_english.len() - 1
        });
        by_english[i].1.push(es);
    }
    if by_english.len() < 20 {
        return Err(format!(
            "{}: only {} English sentences of 1 to {max_words} words; need at least 20",
            path.display(),
            by_english.len()
        )
        .into());
    }
    let parts = split_indices(by_english.len(), &[0.9, 0.05, 0.05], seed)?;
    let all = |idx: &[usize]| -> Vec<Pair> {
        idx.iter()
            .flat_map(|&i| {
                let (en, es) = &by_english[i];
                es.iter().map(move |s| (en.clone(), s.clone()))
            })
            .collect()
    };
    let first = |idx: &[usize]| -> Vec<Pair> {
        idx.iter()
            .map(|&i| (by_english[i].0.clone(), by_english[i].1[0].clone()))
            .collect()
    };
    Ok(Splits {
        train: all(&parts[0]),
        val: all(&parts[1]),
        test: first(&parts[2]),
    })
}
