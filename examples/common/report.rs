//! Results: baselines, the confusion matrix with class names, `results.json`.

use std::path::Path;

use seq::train::metrics::ConfusionMatrix;

use super::Error;

/// The accuracy on `test` of always answering the most frequent class of
/// `train` (labels `0..classes`).
pub fn majority_baseline(train: &[usize], test: &[usize], classes: usize) -> f64 {
    let classes = classes.max(1);
    let mut counts = vec![0usize; classes];
    for &l in train {
        counts[l.min(classes - 1)] += 1;
    }
    let majority = (0..counts.len()).max_by_key(|&c| counts[c]).unwrap_or(0);
    test.iter().filter(|&&l| l == majority).count() as f64 / test.len().max(1) as f64
}

/// The confusion matrix with the class names down the side and their first
/// four letters across the top.
pub fn confusion_table(names: &[String], cm: &ConfusionMatrix) -> String {
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let mut s = String::from("rows: true class; columns: predicted\n");
    s += &format!("{:>width$} |", "");
    for n in names {
        s += &format!(" {:>4}", n.chars().take(4).collect::<String>());
    }
    s.push('\n');
    for (name, row) in names.iter().zip(&cm.counts) {
        s += &format!("{name:>width$} |");
        for c in row {
            s += &format!(" {c:>4}");
        }
        s.push('\n');
    }
    s
}

/// The mean and the sample standard deviation of `v` (the deviation is 0
/// for one value): what the examples report over seeds.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// Writes `value` as `DIR/results.json` (pretty-printed), creating `DIR`.
pub fn write_results(dir: &Path, value: &serde_json::Value) -> Result<(), Error> {
    write_text(
        &dir.join("results.json"),
        &(serde_json::to_string_pretty(value)? + "\n"),
    )
}

/// Writes `text` to `path` atomically (`seq::core::fs`: a crash never
/// leaves half a file), creating its folder.
pub fn write_text(path: &Path, text: &str) -> Result<(), Error> {
    Ok(seq::core::fs::write_atomic(path, text.as_bytes())?)
}
