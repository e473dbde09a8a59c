//! The UCR/UEA time-series classification `.ts` format (sktime's):
//! univariate and multivariate, unequal lengths, missing values (`?`).

use std::path::Path;

use crate::{Error, Result};

/// A `.ts` data set.
#[derive(Debug, Clone, PartialEq)]
pub struct TsDataset {
    /// `@problemName`.
    pub problem: String,
    /// The declared class labels, in order (`@classLabel true ...`).
    pub classes: Vec<String>,
    /// Each case's dimensions, each a series: `series[case][dim][t]`
    /// (`NaN` where the file has `?`).
    pub series: Vec<Vec<Vec<f64>>>,
    /// Each case's label.
    pub labels: Vec<String>,
}

impl TsDataset {
    /// Dimensions per case.
    pub fn dims(&self) -> usize {
        self.series.first().map_or(0, Vec::len)
    }

    /// Each case's length (its longest dimension).
    pub fn lengths(&self) -> Vec<usize> {
        self.series
            .iter()
            .map(|c| c.iter().map(Vec::len).max().unwrap_or(0))
            .collect()
    }

    /// Each case's label as an index into `classes`.
    pub fn label_ids(&self) -> Vec<usize> {
        self.labels
            .iter()
            .map(|l| self.classes.iter().position(|c| c == l).unwrap_or(0))
            .collect()
    }
}

/// Reads a `.ts` file: `#` comments, `@` header lines, then after `@data`
/// one case per line, dimensions separated by `:`, the label last.
pub fn read_ts(path: &Path) -> Result<TsDataset> {
    let text = crate::readers::text::read_corpus(path)?;
    let mut ds = TsDataset {
        problem: String::new(),
        classes: Vec::new(),
        series: Vec::new(),
        labels: Vec::new(),
    };
    let (mut in_data, mut has_labels) = (false, true);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let lower = line.to_lowercase();
            let mut words = line.split_whitespace();
            match words.next().map(str::to_lowercase).as_deref() {
                Some("@problemname") => ds.problem = words.collect::<Vec<_>>().join(" "),
                Some("@classlabel") => {
                    has_labels = words.next().is_some_and(|w| w.eq_ignore_ascii_case("true"));
                    ds.classes = words.map(str::to_owned).collect();
                }
                Some("@data") => in_data = true,
                Some(w) if w.starts_with('@') => {}
                _ => {
                    return Err(Error::parse(
                        path,
                        n,
                        Some(1),
                        format!(
                            "expected a header line or @data, got {:?}",
                            truncate(&lower)
                        ),
                    ))
                }
            }
            continue;
        }
        let mut parts: Vec<&str> = line.split(':').collect();
        let label = if has_labels {
            if parts.len() < 2 {
                return Err(Error::parse(
                    path,
                    n,
                    None,
                    "a case needs at least one dimension and a label",
                ));
            }
            parts.pop().map(str::trim).unwrap_or_default().to_string()
        } else {
            String::new()
        };
        if has_labels && !ds.classes.is_empty() && !ds.classes.contains(&label) {
            return Err(Error::parse(
                path,
                n,
                Some(parts.len() + 1),
                format!("label {label:?} is not one of {:?}", ds.classes),
            ));
        }
        let mut dims = Vec::with_capacity(parts.len());
        for (d, part) in parts.iter().enumerate() {
            let values = part
                .split(',')
                .map(|v| match v.trim() {
                    "?" | "NaN" => Ok(f64::NAN),
                    s => s.parse::<f64>().map_err(|_| {
                        Error::parse(
                            path,
                            n,
                            Some(d + 1),
                            format!("dimension {}: not a number: {:?}", d + 1, truncate(s)),
                        )
                    }),
                })
                .collect::<Result<Vec<f64>>>()?;
            dims.push(values);
        }
        if let Some(first) = ds.series.first() {
            if first.len() != dims.len() {
                return Err(Error::parse(
                    path,
                    n,
                    None,
                    format!(
                        "{} dimensions, earlier cases have {}",
                        dims.len(),
                        first.len()
                    ),
                ));
            }
        }
        ds.series.push(dims);
        ds.labels.push(label);
    }
    if !in_data || ds.series.is_empty() {
        return Err(Error::Config(format!(
            "{}: no @data section with cases",
            path.display()
        )));
    }
    Ok(ds)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
