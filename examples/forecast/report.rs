//! The test evaluation: each station's error per hour ahead against "the
//! same as 24 hours before", the coverage of the forecast interval, the
//! table `horizons.tsv` and the plot `forecast.svg`.

use std::path::Path;

use plotters::prelude::*;
use seq::core::Mode;

use crate::common::report::write_text;
use crate::common::Error;
use crate::data::{Batch, Station, Stations, AHEAD};
use crate::model::Forecaster;

/// One station's test figures.
pub struct Scores {
    pub station: String,
    /// Mean absolute error in degrees F for each hour ahead (1..=24).
    pub mae: Vec<f64>,
    /// The same for "the same as 24 hours before".
    pub baseline: Vec<f64>,
    /// The share of hours inside the outer quantiles' interval (with quantiles).
    pub coverage: Option<f64>,
    /// Per test window, the forecast 24 hours ahead.
    pub day_ahead: Vec<DayAhead>,
}

/// A forecast 24 hours ahead against what came (degrees F).
pub struct DayAhead {
    /// The hour forecast (an index into the station's hours).
    pub hour: usize,
    pub actual: f64,
    pub forecast: f64,
    /// The outer quantiles' forecasts, with quantiles.
    pub band: Option<(f64, f64)>,
}

impl Scores {
    /// The mean over the 24 hours ahead, the model's and the baseline's.
    pub fn mean(&self) -> (f64, f64) {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        (mean(&self.mae), mean(&self.baseline))
    }

    /// The error 24 hours ahead, the model's and the baseline's.
    pub fn day(&self) -> (f64, f64) {
        (self.mae[AHEAD - 1], self.baseline[AHEAD - 1])
    }
}

/// Scores each station on its test batches.
pub fn evaluate(
    model: &Forecaster,
    data: &Stations,
    batches: &[Batch],
) -> seq::core::Result<Vec<Scores>> {
    let mut scores: Vec<Scores> = data
        .stations
        .iter()
        .map(|st| Scores {
            station: st.name.clone(),
            mae: vec![0.0; AHEAD],
            baseline: vec![0.0; AHEAD],
            coverage: None,
            day_ahead: Vec::new(),
        })
        .collect();
    let mut counts = vec![(0usize, 0usize); data.stations.len()]; // windows, covered hours
    let levels = model.quantiles().len();
    for b in batches {
        let forecast = model.forecast(&b.x, Mode::Eval)?; // [batch, 24, levels]
        let point = model.point(&forecast)?.to_vec2::<f32>()?;
        let all = forecast.to_vec3::<f32>()?;
        for ((p, q), &(s, start)) in point.iter().zip(&all).zip(&b.windows) {
            let st = &data.stations[s];
            let degrees = |v: f32| f64::from(v) * st.temp_std() + st.norm.mean[st.temp_col];
            let last = Station::last_hour(start);
            let sc = &mut scores[s];
            for h in 1..=AHEAD {
                let actual = st.temp_f[last + h];
                sc.mae[h - 1] += (degrees(p[h - 1]) - actual).abs();
                sc.baseline[h - 1] += (st.temp_f[last + h - 24] - actual).abs();
                if levels > 1 {
                    let (lo, hi) = (degrees(q[h - 1][0]), degrees(q[h - 1][levels - 1]));
                    counts[s].1 += usize::from(lo <= actual && actual <= hi);
                }
            }
            let band = (levels > 1).then(|| {
                let at = &q[AHEAD - 1];
                (degrees(at[0]), degrees(at[levels - 1]))
            });
            let target = last + AHEAD;
            sc.day_ahead.push(DayAhead {
                hour: target,
                actual: st.temp_f[target],
                forecast: degrees(p[AHEAD - 1]),
                band,
            });
            counts[s].0 += 1;
        }
    }
    for (sc, &(n, covered)) in scores.iter_mut().zip(&counts) {
        let n = n.max(1) as f64;
        sc.mae
            .iter_mut()
            .chain(&mut sc.baseline)
            .for_each(|v| *v /= n);
        sc.coverage = (levels > 1).then(|| covered as f64 / (n * AHEAD as f64));
    }
    Ok(scores)
}

/// `horizons.tsv`: for each hour ahead, each station's error and its baseline's.
pub fn write_horizons(path: &Path, scores: &[Scores]) -> Result<(), Error> {
    let mut text = String::from("hours_ahead");
    for sc in scores {
        text += &format!("\t{0}_mae_f\t{0}_same_as_24h_before_f", sc.station);
    }
    text.push('\n');
    for h in 0..AHEAD {
        text += &(h + 1).to_string();
        for sc in scores {
            text += &format!("\t{:.4}\t{:.4}", sc.mae[h], sc.baseline[h]);
        }
        text.push('\n');
    }
    write_text(path, &text)
}

/// `forecast.svg`: per station the test period's temperature and the
/// forecast made 24 hours before (with the outer quantiles' interval),
/// then the error per hour ahead against the baseline.
pub fn plot(path: &Path, scores: &[Scores]) -> Result<(), Error> {
    let mut svg = String::new();
    {
        let panels = scores.len() + 1;
        let root =
            SVGBackend::with_string(&mut svg, (960, 320 * panels as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((panels, 1));
        for (area, sc) in areas.iter().zip(scores) {
            let days = &sc.day_ahead;
            let (lo, hi) = days
                .iter()
                .flat_map(|d| {
                    let band = d.band.into_iter().flat_map(|(lo, hi)| [lo, hi]);
                    [d.actual, d.forecast].into_iter().chain(band)
                })
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                    (l.min(v), h.max(v))
                });
            let (lo, hi) = if lo < hi {
                (lo - 2.0, hi + 2.0)
            } else {
                (0.0, 1.0)
            };
            let first = days.first().map_or(0, |d| d.hour);
            let x_end = days.last().map_or(1, |d| d.hour).max(first + 1);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{}: temperature and the forecast 24 hours ahead (test)",
                        sc.station
                    ),
                    ("sans-serif", 16),
                )
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(45)
                .build_cartesian_2d(0f64..((x_end - first) as f64 / 24.0), lo..hi)?;
            chart
                .configure_mesh()
                .x_desc("days into the test period")
                .y_desc("degrees F")
                .draw()?;
            let day = |i: usize| (i - first) as f64 / 24.0;
            if days.iter().any(|d| d.band.is_some()) {
                for (k, name) in [(0, "outer quantiles"), (1, "")] {
                    let band = days.iter().filter_map(|d| {
                        d.band
                            .map(|b| (day(d.hour), if k == 0 { b.0 } else { b.1 }))
                    });
                    let series =
                        chart.draw_series(LineSeries::new(band, RGBColor(170, 170, 220)))?;
                    if !name.is_empty() {
                        series.label(name).legend(|(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(170, 170, 220))
                        });
                    }
                }
            }
            let actual = days.iter().map(|d| (day(d.hour), d.actual));
            chart
                .draw_series(LineSeries::new(actual, BLACK))?
                .label("actual")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
            let forecast = days.iter().map(|d| (day(d.hour), d.forecast));
            chart
                .draw_series(LineSeries::new(forecast, RED))?
                .label("forecast")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE)
                .draw()?;
        }
        if let Some(area) = areas.last() {
            let top = scores
                .iter()
                .flat_map(|s| s.mae.iter().chain(&s.baseline))
                .fold(0.0f64, |a, &v| a.max(v));
            let mut chart = ChartBuilder::on(area)
                .caption(
                    "mean absolute error by hours ahead (test)",
                    ("sans-serif", 16),
                )
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(45)
                .build_cartesian_2d(1f64..AHEAD as f64, 0f64..top * 1.1 + 1e-9)?;
            chart
                .configure_mesh()
                .x_desc("hours ahead")
                .y_desc("degrees F")
                .draw()?;
            for (i, sc) in scores.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                for (v, name, dashed) in [
                    (&sc.mae, "model", false),
                    (&sc.baseline, "same as 24 h before", true),
                ] {
                    let points: Vec<(f64, f64)> = v
                        .iter()
                        .enumerate()
                        .map(|(h, &e)| ((h + 1) as f64, e))
                        .collect();
                    let label = format!("{} {name}", sc.station);
                    let style = if dashed {
                        color.stroke_width(1)
                    } else {
                        color.stroke_width(2)
                    };
                    chart
                        .draw_series(LineSeries::new(points, style))?
                        .label(label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                }
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

/// Each station's forecast for the 24 hours after the last 120 of its
/// series, one line per station (degrees F; every quantile level with
/// `--quantiles`).
pub fn next_day(
    model: &Forecaster,
    data: &Stations,
    device: &candle_core::Device,
) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for (s, st) in data.stations.iter().enumerate() {
        let batch = data.batch_inputs(&[(s, data.last_window(s)?)], device)?;
        let forecast = model.forecast(&batch, Mode::Eval)?.to_vec3::<f32>()?; // [1, 24, levels]
        let degrees = |v: f32| f64::from(v) * st.temp_std() + st.norm.mean[st.temp_col];
        let hours: Vec<String> = forecast[0]
            .iter()
            .map(|levels| {
                let v: Vec<String> = levels
                    .iter()
                    .map(|&v| format!("{:.1}", degrees(v)))
                    .collect();
                v.join("/")
            })
            .collect();
        let levels = match model.quantiles() {
            [] => String::new(),
            q => format!(
                ", quantiles {}",
                q.iter().map(f64::to_string).collect::<Vec<_>>().join("/")
            ),
        };
        lines.push(format!(
            "{}: the next {AHEAD} hours (degrees F{levels}): {}",
            st.name,
            hours.join(" ")
        ));
    }
    Ok(lines)
}
