//! What a run leaves behind: the history per epoch as CSV and JSON lines,
//! and the training curves as SVG; and its progress bar.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;

use crate::{Error, History, Record, Result};

/// Writes `history.csv`, `history.jsonl` and `curves.svg` in `dir`, each
/// written atomically ([`seq_core::fs`]).
pub fn write_all(dir: &Path, history: &History) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let names = history.metric_names();
    let mut csv = format!("epoch,{}\n", names.join(","));
    let mut jsonl = String::new();
    for (i, record) in history.epochs.iter().enumerate() {
        let values: Vec<String> = names
            .iter()
            .map(|n| record.metric(n).map_or(String::new(), |v| format!("{v}")))
            .collect();
        csv.push_str(&format!("{},{}\n", i + 1, values.join(",")));
        let fields: Vec<String> = record
            .iter()
            .map(|(k, v)| format!("\"{k}\": {}", json_number(*v)))
            .collect();
        jsonl.push_str(&format!(
            "{{\"epoch\": {}, {}}}\n",
            i + 1,
            fields.join(", ")
        ));
    }
    write_atomic(&dir.join("history.csv"), &csv)?;
    write_atomic(&dir.join("history.jsonl"), &jsonl)?;
    plot(&dir.join("curves.svg"), history)
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    Ok(seq_core::fs::write_atomic(path, text.as_bytes())?)
}

/// One panel for the losses, one for every other metric, per epoch.
fn plot(path: &Path, history: &History) -> Result<()> {
    let names = history.metric_names();
    let (losses, others): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| n.ends_with("loss"));
    let panels: Vec<Vec<&String>> = [losses, others]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 320 * panels.len().max(1) as u32))
            .into_drawing_area();
        let draw = |e: Box<dyn std::error::Error + '_>| {
            Error::Config(format!("plotting {}: {e}", path.display()))
        };
        root.fill(&WHITE).map_err(|e| draw(Box::new(e)))?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        let n = history.epochs.len().max(2);
        for (area, panel) in areas.iter().zip(&panels) {
            let values: Vec<f64> = panel
                .iter()
                .flat_map(|m| history.series(m))
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let (lo, hi) = if lo < hi {
                (lo, hi)
            } else {
                (lo - 1.0, lo + 1.0)
            };
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(1f64..n as f64, lo..hi)
                .map_err(|e| draw(Box::new(e)))?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .draw()
                .map_err(|e| draw(Box::new(e)))?;
            for (i, metric) in panel.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let points: Vec<(f64, f64)> = history
                    .series(metric)
                    .into_iter()
                    .enumerate()
                    .map(|(e, v)| ((e + 1) as f64, v))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, color))
                    .map_err(|e| draw(Box::new(e)))?
                    .label(metric.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .draw()
                .map_err(|e| draw(Box::new(e)))?;
        }
        root.present().map_err(|e| draw(Box::new(e)))?;
    }
    write_atomic(path, &svg)
}

/// A progress bar over `len` steps, or a hidden one in quiet mode.
pub(crate) fn progress(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar
}
