//! The stations of a weather file as model inputs: each station's hourly
//! series with its own normalisation (fitted on its training months), the
//! calendar features, the time splits, and batches of windows from every
//! station.

use std::f64::consts::TAU;
use std::ops::Range;
use std::path::Path;

use candle_core::{Device, Tensor};
use seq::data::pipeline::{Normalizer, Windows};
use seq::data::readers::timeseries::{
    distinct_values, parse_time, read_series, Missing, SeriesOptions, TimeSeries,
};

use crate::common::Error;

/// Hours of weather a forecast reads.
pub const PAST: usize = 120;
/// Hours it forecasts: the next 24, all at once.
pub const AHEAD: usize = 24;
/// Calendar features after the weather columns: the hour of the day and
/// the time of year, each as a sine and a cosine.
const CALENDAR: usize = 4;

/// One station: its features per hour, its temperature, and its windows.
pub struct Station {
    pub name: String,
    /// Per hour: the weather columns normalised, then the calendar.
    pub features: Vec<Vec<f32>>,
    /// The temperature per hour in degrees F.
    pub temp_f: Vec<f64>,
    /// The station's normalisation (fitted on January-September).
    pub norm: Normalizer,
    /// Where `temp` is among the weather columns.
    pub temp_col: usize,
    /// Window starts: training (January-September), validation (October),
    /// test (November-December).
    pub splits: [Vec<usize>; 3],
}

impl Station {
    /// Degrees F per normalised unit of temperature.
    pub fn temp_std(&self) -> f64 {
        self.norm.std[self.temp_col]
    }

    /// The normalised temperature of hour `i`.
    pub fn temp(&self, i: usize) -> f32 {
        self.features[i][self.temp_col]
    }

    /// The last input hour of the window starting at `start`.
    pub fn last_hour(start: usize) -> usize {
        start + PAST - 1
    }
}

/// The weather columns and every station of `path` (or the ones named).
pub struct Stations {
    pub columns: Vec<String>,
    pub stations: Vec<Station>,
}

impl Stations {
    /// Reads each station of the file's `origin` column (or only `names`),
    /// fills missing values and hours, fits each station's normalisation on
    /// its training months and cuts the windows; `limit` caps the windows
    /// of each split (smoke runs).
    pub fn read(path: &Path, names: &[String], limit: usize) -> Result<Self, Error> {
        let names = match names.is_empty() {
            true => distinct_values(path, "origin")?,
            false => names.to_vec(),
        };
        let mut columns = Vec::new();
        let mut stations = Vec::new();
        for name in names {
            let series = read_station(path, &name)?;
            if !columns.is_empty() && columns != series.columns {
                return Err(format!("station {name} has other columns than the first").into());
            }
            columns = series.columns.clone();
            stations.push(station(name, series, None, limit)?);
        }
        Ok(Stations { columns, stations })
    }

    /// Reads the stations a trained model knows, normalised with the
    /// statistics it was trained with (`(name, normaliser)`); the file must
    /// have the model's `columns`. No windows are cut.
    pub fn read_with(
        path: &Path,
        columns: &[String],
        saved: Vec<(String, Normalizer)>,
    ) -> Result<Self, Error> {
        let mut stations = Vec::new();
        for (name, norm) in saved {
            let series = read_station(path, &name)?;
            if series.columns != columns || norm.mean.len() != columns.len() {
                return Err(format!(
                    "station {name} of {}: columns {:?}, the model was trained on {columns:?}",
                    path.display(),
                    series.columns
                )
                .into());
            }
            stations.push(station(name, series, Some(norm), 0)?);
        }
        Ok(Stations {
            columns: columns.to_vec(),
            stations,
        })
    }

    /// The start of station `s`'s last window: its last 120 hours.
    pub fn last_window(&self, s: usize) -> Result<usize, Error> {
        let st = &self.stations[s];
        st.features.len().checked_sub(PAST).ok_or_else(|| {
            format!(
                "station {}: {} hours, fewer than {PAST}",
                st.name,
                st.features.len()
            )
            .into()
        })
    }

    /// Features per hour: the weather columns and the calendar.
    pub fn inputs(&self) -> usize {
        self.columns.len() + CALENDAR
    }

    /// Every `(station, start)` of split `s` (0 train, 1 validation, 2 test).
    pub fn split(&self, s: usize) -> Vec<(usize, usize)> {
        self.stations
            .iter()
            .enumerate()
            .flat_map(|(i, st)| st.splits[s].iter().map(move |&start| (i, start)))
            .collect()
    }

    /// The inputs `[windows, 120, inputs]` of the windows `(station, start)`.
    pub fn batch_inputs(
        &self,
        windows: &[(usize, usize)],
        device: &Device,
    ) -> seq::core::Result<Tensor> {
        let x: Vec<f32> = windows
            .iter()
            .flat_map(|&(s, start)| {
                self.stations[s].features[start..start + PAST]
                    .iter()
                    .flatten()
                    .copied()
            })
            .collect();
        Ok(Tensor::from_vec(
            x,
            (windows.len(), PAST, self.inputs()),
            device,
        )?)
    }

    /// The windows `(station, start)` as one batch.
    pub fn batch(&self, windows: &[(usize, usize)], device: &Device) -> seq::core::Result<Batch> {
        let y: Vec<f32> = windows
            .iter()
            .flat_map(|&(s, start)| {
                let st = &self.stations[s];
                (1..=AHEAD).map(move |h| st.temp(Station::last_hour(start) + h))
            })
            .collect();
        Ok(Batch {
            x: self.batch_inputs(windows, device)?,
            y: Tensor::from_vec(y, (windows.len(), AHEAD), device)?,
            windows: windows.to_vec(),
        })
    }
}

/// Past hours `[batch, 120, inputs]`, the normalised temperature of each of
/// the next 24 hours `[batch, 24]`, and which windows they are.
#[derive(Clone)]
pub struct Batch {
    pub x: Tensor,
    pub y: Tensor,
    pub windows: Vec<(usize, usize)>,
}

/// One station's series, read, gaps filled, resampled hourly.
fn read_station(path: &Path, name: &str) -> Result<TimeSeries, Error> {
    let options = SeriesOptions {
        time_column: "time_hour".into(),
        filter: Some(("origin".into(), name.to_string())),
        missing: Missing::Interpolate,
        ..SeriesOptions::default()
    };
    let raw = read_series(path, &options)
        .map_err(|e| format!("station {name} of {}: {e}", path.display()))?;
    println!(
        "{name}: {} hours, {} missing values filled, {} gaps ({} hours) filled on the hourly grid",
        raw.values.len(),
        raw.report.filled,
        raw.report.gaps.len(),
        raw.report.gaps.iter().map(|g| g.missing_steps).sum::<i64>()
    );
    Ok(raw.resample(3600)?)
}

/// A station from its series: normalised with `norm`, or with statistics
/// fitted on January-September; windows cut only when fitting.
fn station(
    name: String,
    series: TimeSeries,
    norm: Option<Normalizer>,
    limit: usize,
) -> Result<Station, Error> {
    let temp_col = series
        .columns
        .iter()
        .position(|c| c == "temp")
        .ok_or_else(|| format!("station {name}: the data has no `temp` column"))?;
    let at = |date: &str| -> Result<usize, Error> {
        let t = parse_time(date).ok_or("a fixed date")?;
        Ok(series.times.partition_point(|&x| x < t))
    };
    let (oct, nov) = (at("2013-10-01T00:00:00Z")?, at("2013-11-01T00:00:00Z")?);
    let n = series.values.len();
    let fitted = norm.is_none();
    let norm = match norm {
        Some(norm) => norm,
        None => {
            Normalizer::fit(&series.values, 0..oct).map_err(|e| format!("station {name}: {e}"))?
        }
    };
    let features = norm
        .apply(&series.values)
        .into_iter()
        .zip(&series.times)
        .map(|(row, &t)| {
            let mut row: Vec<f32> = row.into_iter().map(|v| v as f32).collect();
            row.extend(calendar(t));
            row
        })
        .collect();
    // A window's target is its last hour plus 24: the whole horizon inside the split.
    let windows = Windows {
        sequence_length: PAST,
        sampling_rate: 1,
        sequence_stride: 1,
        target_offset: PAST - 1 + AHEAD,
    };
    let split = |rows: Range<usize>, stride: usize| -> Result<Vec<usize>, Error> {
        if !fitted {
            return Ok(Vec::new());
        }
        Ok(windows
            .starts(rows)?
            .into_iter()
            .step_by(stride)
            .take(limit)
            .collect())
    };
    Ok(Station {
        splits: [split(0..oct, 2)?, split(oct..nov, 1)?, split(nov..n, 1)?],
        temp_f: series.values.iter().map(|r| r[temp_col]).collect(),
        name,
        features,
        norm,
        temp_col,
    })
}

/// The hour of the day and the time of year of the Unix time `t`, each as
/// a point on the unit circle.
fn calendar(t: i64) -> [f32; CALENDAR] {
    const YEAR: f64 = 365.2425 * 86_400.0;
    let day = TAU * t.rem_euclid(86_400) as f64 / 86_400.0;
    let year = TAU * (t as f64).rem_euclid(YEAR) / YEAR;
    [day.sin(), day.cos(), year.sin(), year.cos()].map(|v| v as f32)
}
