//! The gradient norms of the long-dependency runs: an SVG plot per
//! panel (log scale, against the distance from the last step), a TSV table
//! and the one-line summary the README quotes.

use plotters::prelude::*;

use crate::common::report::write_text;
use crate::common::Error;

/// A cell's name and its gradient norm at each step.
pub type Norms = (String, Vec<f64>);

/// The gradient norms against the distance from the last step, log scale:
/// one panel per `(title, series)`.
pub fn plot(path: &std::path::Path, panels: &[(String, Vec<Norms>)]) -> Result<(), Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 380 * panels.len().max(1) as u32))
            .into_drawing_area();
        root.fill(&WHITE)?;
        for (area, (title, series)) in root
            .split_evenly((panels.len().max(1), 1))
            .iter()
            .zip(panels)
        {
            let t = series.iter().map(|(_, v)| v.len()).max().unwrap_or(2);
            let positive = series.iter().flat_map(|(_, v)| v).filter(|v| **v > 0.0);
            let (lo, hi) = positive.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
            let (lo, hi) = if lo < hi {
                (lo / 2.0, hi * 2.0)
            } else {
                (1e-12, 1.0)
            };
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..(t - 1) as f64, (lo..hi).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("steps before the last")
                .y_desc("||dL/dx_t||")
                .draw()?;
            for (i, (name, v)) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let points = v
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| **g > 0.0)
                    .map(|(s, &g)| ((v.len() - 1 - s) as f64, g));
                chart
                    .draw_series(LineSeries::new(points, color))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()?;
        }
        root.present()?;
    }
    write_text(path, &svg)
}

/// Writes the norms as a table: one row per step, a column per series.
pub fn write_norms(path: &std::path::Path, series: &[Norms]) -> Result<(), Error> {
    let mut tsv = String::from("step");
    for (name, _) in series {
        tsv += &format!("\t{name}");
    }
    tsv.push('\n');
    for s in 0..series.iter().map(|(_, v)| v.len()).max().unwrap_or(0) {
        tsv += &s.to_string();
        for (_, g) in series {
            tsv += &format!("\t{:e}", g.get(s).copied().unwrap_or(f64::NAN));
        }
        tsv.push('\n');
    }
    write_text(path, &tsv)
}

/// `first / last` and the two norms, as the summary prints them.
pub fn summary(g: &[f64]) -> (f64, f64, f64) {
    let (first, last) = (g[0], g[g.len() - 1]);
    (first, last, first / last)
}
