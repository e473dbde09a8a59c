//! The UCR/UEA time-series classification `.ts` format (sktime's):
//! univariate and multivariate, unequal lengths, missing values (`?`).
//!
//! The header is held to: a file whose cases contradict `@univariate`,
//! `@dimensions`, `@equalLength`, `@seriesLength` or `@missing`, or whose
//! labels are not among `@classLabel`'s, is refused with the line at fault.
//! Values must be finite numbers (`?` and `NaN` mark a missing one).

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

    /// Each case's label as an index into this file's `classes`.
    pub fn label_ids(&self) -> Vec<usize> {
        // Every label is one of `classes` (`read_ts` checks it).
        self.label_ids_in(&self.classes).unwrap_or_default()
    }

    /// Each case's label as an index into `classes`: pass the training
    /// file's classes for its test file, so that a class has the same id in
    /// both whatever order each file lists them in. An error names the
    /// first label that is not one of `classes`.
    pub fn label_ids_in(&self, classes: &[String]) -> Result<Vec<usize>> {
        self.labels
            .iter()
            .map(|l| {
                classes.iter().position(|c| c == l).ok_or_else(|| {
                    Error::Config(format!(
                        "{}: label {l:?} is not one of the classes {classes:?}",
                        self.problem
                    ))
                })
            })
            .collect()
    }
}

/// What the header promises about the cases.
#[derive(Default)]
struct Promises {
    univariate: Option<bool>,
    dimensions: Option<usize>,
    equal_length: Option<bool>,
    series_length: Option<usize>,
    missing: Option<bool>,
}

/// Reads a `.ts` file: `#` comments, `@` header lines, then after `@data`
/// one case per line, dimensions separated by `:`, the label last. Without a
/// `@classLabel` list, the classes are the labels found, sorted.
pub fn read_ts(path: &Path) -> Result<TsDataset> {
    let text = crate::readers::text::read_corpus(path)?;
    let mut promises = Promises::default();
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
                Some(key @ ("@univariate" | "@equallength" | "@missing" | "@timestamps")) => {
                    let value = match words.next().map(str::to_lowercase).as_deref() {
                        Some("true") => true,
                        Some("false") => false,
                        other => {
                            return Err(Error::parse(
                                path,
                                n,
                                None,
                                format!("{key} must be true or false, got {other:?}"),
                            ))
                        }
                    };
                    match key {
                        "@univariate" => promises.univariate = Some(value),
                        "@equallength" => promises.equal_length = Some(value),
                        "@missing" => promises.missing = Some(value),
                        _ if value => {
                            return Err(Error::parse(
                                path,
                                n,
                                None,
                                "@timeStamps true: time-stamped cases are not supported",
                            ))
                        }
                        _ => {}
                    }
                }
                Some(key @ ("@dimensions" | "@serieslength")) => {
                    let value = words.next().and_then(|w| w.parse::<usize>().ok());
                    let value = value.ok_or_else(|| {
                        Error::parse(path, n, None, format!("{key} needs a whole number"))
                    })?;
                    match key {
                        "@dimensions" => promises.dimensions = Some(value),
                        _ => promises.series_length = Some(value),
                    }
                }
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
                    "?" | "NaN" if promises.missing == Some(false) => Err(Error::parse(
                        path,
                        n,
                        Some(d + 1),
                        "a missing value, and the header says @missing false",
                    )),
                    "?" | "NaN" => Ok(f64::NAN),
                    s => super::finite::<f64>(s).ok_or_else(|| {
                        Error::parse(
                            path,
                            n,
                            Some(d + 1),
                            format!(
                                "dimension {}: not a finite number: {:?}",
                                d + 1,
                                truncate(s)
                            ),
                        )
                    }),
                })
                .collect::<Result<Vec<f64>>>()?;
            dims.push(values);
        }
        let contradiction = |what: String| {
            Err(Error::parse(
                path,
                n,
                None,
                format!("{what}, the header says otherwise"),
            ))
        };
        let expected_dims = match promises.univariate {
            Some(true) => Some(1),
            _ => promises.dimensions,
        };
        if let Some(e) = expected_dims.filter(|&e| e != dims.len()) {
            return contradiction(format!("{} dimensions, not {e}", dims.len()));
        }
        if let Some(len) = promises.series_length {
            if let Some(bad) = dims.iter().find(|d| d.len() != len) {
                return contradiction(format!("a series of {} values, not {len}", bad.len()));
            }
        }
        if promises.equal_length == Some(true) {
            let first = ds.series.first().and_then(|c| c.first()).map(Vec::len);
            let len = first.unwrap_or(dims[0].len());
            if let Some(bad) = dims.iter().find(|d| d.len() != len) {
                return contradiction(format!(
                    "@equalLength true, yet a series of {} values after one of {len}",
                    bad.len()
                ));
            }
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
    if has_labels && ds.classes.is_empty() {
        let mut found = ds.labels.clone();
        found.sort();
        found.dedup();
        ds.classes = found;
    }
    Ok(ds)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
