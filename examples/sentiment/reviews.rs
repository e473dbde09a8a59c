//! The sentiment example's data: the reviews of both files and the splits
//! a model trains, validates and is tested on (the shipped split, or one
//! fold of k-fold cross-validation).

use std::path::Path;

use seq::data::pipeline::split_indices;
use seq::data::readers::text::{read_labelled_table, Labelled};

use crate::common::Error;

/// The reviews of the training file followed by those of the test file,
/// with their classes (`pos` 1).
pub struct Reviews {
    pub rows: Vec<Labelled>,
    pub labels: Vec<u32>,
    /// How many of `rows` come from the training file.
    train_len: usize,
}

/// Which reviews (indices into [`Reviews`]) a model trains on, validates
/// on (early stopping) and is tested on.
pub struct Split {
    pub fit: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

impl Reviews {
    /// Reads the two TSV files (`label` pos/neg, `text`); `smoke` keeps
    /// the first 512 and 128 reviews.
    pub fn read(train_path: &Path, test_path: &Path, smoke: bool) -> Result<Self, Error> {
        let mut train = read_labelled_table(train_path, b'\t', "text", "label")?;
        let mut test = read_labelled_table(test_path, b'\t', "text", "label")?;
        if smoke {
            train.truncate(512);
            test.truncate(128);
        }
        let mut labels = labels_of(&train, train_path)?;
        labels.extend(labels_of(&test, test_path)?);
        let train_len = train.len();
        train.extend(test);
        Ok(Reviews {
            rows: train,
            labels,
            train_len,
        })
    }

    /// Train on 90% of the training file, validate on the rest of it, test
    /// on the test file.
    pub fn shipped_split(&self, seed: u64) -> Result<Split, Error> {
        let (fit, val) = hold_out(&(0..self.train_len).collect::<Vec<_>>(), seed)?;
        let test = (self.train_len..self.rows.len()).collect();
        Ok(Split { fit, val, test })
    }

    /// Test on `test`; train on 90% of the other reviews, validate on the
    /// rest of them.
    pub fn fold_split(&self, test: Vec<usize>, seed: u64) -> Result<Split, Error> {
        let mut tested = vec![false; self.rows.len()];
        for &i in &test {
            tested[i] = true;
        }
        let others: Vec<usize> = (0..self.rows.len()).filter(|&i| !tested[i]).collect();
        let (fit, val) = hold_out(&others, seed)?;
        Ok(Split { fit, val, test })
    }
}

/// `items` shuffled with `seed` and cut 90% / 10%: (fit, validation).
fn hold_out(items: &[usize], seed: u64) -> Result<(Vec<usize>, Vec<usize>), Error> {
    let mut parts = split_indices(items.len(), &[0.9, 0.1], seed)?
        .into_iter()
        .map(|part| part.into_iter().map(|j| items[j]).collect());
    Ok((
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    ))
}

fn labels_of(rows: &[Labelled], path: &Path) -> Result<Vec<u32>, Error> {
    rows.iter()
        .map(|r| match r.label.as_str() {
            "pos" => Ok(1),
            "neg" => Ok(0),
            other => Err(format!(
                "{}: label must be `pos` or `neg`, got {other:?}",
                path.display()
            )
            .into()),
        })
        .collect()
}
