//! The two tasks' texts: Brown corpus passages labelled by genre (the split
//! is by document, so no document lends passages to both training and
//! test) and the 2016 debate statements labelled by speaker.

use std::path::Path;

use seq::data::pipeline::split_stratified;
use seq::data::readers::text::{read_labelled_table, Labelled};

use super::Error;

/// Texts, their classes (indices into [`Task::classes`]) and the
/// document each comes from (its row in the file).
#[derive(Default)]
pub struct Texts {
    pub texts: Vec<String>,
    pub labels: Vec<u32>,
    pub docs: Vec<u32>,
}

/// A classification task with its splits.
pub struct Task {
    pub name: &'static str,
    pub classes: Vec<String>,
    pub train: Texts,
    pub val: Texts,
    pub test: Texts,
}

/// Training, validation and test fractions, kept within every class.
const SPLIT: [f64; 3] = [0.7, 0.1, 0.2];

/// The class names (sorted) and each row's class.
fn classes(rows: &[Labelled], path: &Path) -> Result<(Vec<String>, Vec<usize>), Error> {
    let mut names: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        return Err(format!(
            "{}: needs at least two classes, found {names:?}",
            path.display()
        )
        .into());
    }
    let labels = rows
        .iter()
        .map(|r| names.binary_search(&r.label).unwrap_or(0))
        .collect();
    Ok((names, labels))
}

/// Brown documents (`genre`, `text` columns) cut into passages of
/// `words` words (a shorter last piece of at least half that is kept);
/// documents, not passages, are split.
pub fn brown(path: &Path, words: usize, seed: u64) -> Result<Task, Error> {
    let docs = read_labelled_table(path, b'\t', "text", "genre")?;
    let (classes, labels) = classes(&docs, path)?;
    let parts = split_stratified(&labels, &SPLIT, seed)?;
    let passages = |idx: &[usize]| {
        let mut out = Texts::default();
        for &d in idx {
            let tokens: Vec<&str> = docs[d].text.split_whitespace().collect();
            for piece in tokens.chunks(words.max(1)) {
                if 2 * piece.len() >= words {
                    out.texts.push(piece.join(" "));
                    out.labels.push(labels[d] as u32);
                    out.docs.push(d as u32);
                }
            }
        }
        out
    };
    Ok(Task {
        name: "genre",
        classes,
        train: passages(&parts[0]),
        val: passages(&parts[1]),
        test: passages(&parts[2]),
    })
}

/// Debate statements (`speaker`, `statement` columns), split within each
/// speaker.
pub fn debates(path: &Path, seed: u64) -> Result<Task, Error> {
    let rows = read_labelled_table(path, b'\t', "statement", "speaker")?;
    let (classes, labels) = classes(&rows, path)?;
    let parts = split_stratified(&labels, &SPLIT, seed)?;
    let pick = |idx: &[usize]| Texts {
        texts: idx.iter().map(|&i| rows[i].text.clone()).collect(),
        labels: idx.iter().map(|&i| labels[i] as u32).collect(),
        docs: idx.iter().map(|&i| i as u32).collect(),
    };
    Ok(Task {
        name: "speaker",
        classes,
        train: pick(&parts[0]),
        val: pick(&parts[1]),
        test: pick(&parts[2]),
    })
}

impl Texts {
    /// About `n` texts spread evenly over all of them (smoke runs keep
    /// every class).
    pub fn sample(&mut self, n: usize) {
        let step = self.texts.len().div_ceil(n.max(1)).max(1);
        self.texts = std::mem::take(&mut self.texts)
            .into_iter()
            .step_by(step)
            .collect();
        self.labels = std::mem::take(&mut self.labels)
            .into_iter()
            .step_by(step)
            .collect();
        self.docs = std::mem::take(&mut self.docs)
            .into_iter()
            .step_by(step)
            .collect();
    }
}
