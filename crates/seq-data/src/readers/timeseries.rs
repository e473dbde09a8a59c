//! CSV time series with a timestamp column (the Jena climate layout), with
//! a chosen policy for missing values and a report of gaps in time.

use std::path::Path;

use super::text::Table;
use crate::{Error, Result};

/// What to do with a missing (empty, `NA`, `NaN`) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Missing {
    /// Refuse the file, naming the first missing value and the count (default).
    #[default]
    Error,
    /// Drop every row with a missing value (the count is reported).
    Drop,
    /// Carry the last value forward (a missing first value takes the next one).
    ForwardFill,
    /// Linear interpolation in time between the neighbours (ends take the nearest).
    Interpolate,
}

/// How to read a time series file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SeriesOptions {
    /// The timestamp column (`time_hour`, `Date Time`, ...).
    pub time_column: String,
    /// The numeric columns to read; all but the timestamp and filter when
    /// empty (the default).
    pub columns: Vec<String>,
    /// Keep only rows whose `column` equals `value` (e.g. one weather
    /// station; default: every row).
    pub filter: Option<(String, String)>,
    /// The missing-value policy (default [`Missing::Error`]).
    pub missing: Missing,
}

impl SeriesOptions {
    /// Every numeric column of every row, timestamps in `time_column`, a
    /// missing value an error.
    pub fn new(time_column: impl Into<String>) -> Self {
        SeriesOptions {
            time_column: time_column.into(),
            ..SeriesOptions::default()
        }
    }

    /// With only these columns, in this order (default: all).
    pub fn with_columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// With only the rows whose `column` holds `value` (default: every row).
    pub fn with_filter(mut self, column: impl Into<String>, value: impl Into<String>) -> Self {
        self.filter = Some((column.into(), value.into()));
        self
    }

    /// With a missing-value policy (default [`Missing::Error`]).
    pub fn with_missing(mut self, missing: Missing) -> Self {
        self.missing = missing;
        self
    }
}

/// A gap: consecutive timestamps further apart than the usual step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The timestamp before the gap (seconds since 1970).
    pub after: i64,
    /// The timestamp after it.
    pub before: i64,
    /// Steps missing in between.
    pub missing_steps: i64,
}

/// What the reader found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesReport {
    /// Missing values: `(line, column name)`.
    pub missing: Vec<(usize, String)>,
    /// Rows dropped (policy `Drop`).
    pub dropped_rows: usize,
    /// Values filled (policies `ForwardFill`, `Interpolate`).
    pub filled: usize,
    /// The usual step between timestamps, in seconds (the most common).
    pub step: i64,
    /// Gaps in the timestamps.
    pub gaps: Vec<Gap>,
}

/// A multivariate time series: `values[row][column]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// Seconds since 1970-01-01 UTC, one per row.
    pub times: Vec<i64>,
    /// The column names.
    pub columns: Vec<String>,
    /// The values, row by row.
    pub values: Vec<Vec<f64>>,
    /// What was missing, dropped, filled; gaps.
    pub report: SeriesReport,
}

/// How many times more rows than it has [`TimeSeries::resample`] may make.
pub const MAX_RESAMPLE_GROWTH: i64 = 100;

impl TimeSeries {
    /// The series on a regular grid of `step` seconds from its first to its
    /// last timestamp, rows in the gaps filled by linear interpolation in
    /// time (windows of a fixed number of rows then span a fixed time).
    pub fn resample(&self, step: i64) -> Result<TimeSeries> {
        let (Some(&first), Some(&last)) = (self.times.first(), self.times.last()) else {
            return Err(Error::Config("resample: an empty series".into()));
        };
        if step <= 0 {
            return Err(Error::Config(format!(
                "resample: the step must be positive, got {step}"
            )));
        }
        let span = last
            .checked_sub(first)
            .filter(|s| *s >= 0)
            .ok_or_else(|| Error::Config(format!("resample: timestamps {first} to {last}")))?;
        let rows = span / step + 1;
        let limit = MAX_RESAMPLE_GROWTH * self.times.len() as i64 + 10_000;
        if rows > limit {
            return Err(Error::Config(format!(
                "resample: a step of {step} s over {span} s makes {rows} rows from {}; \
                 more than {MAX_RESAMPLE_GROWTH} times the data (a wrong step or a stray timestamp?)",
                self.times.len()
            )));
        }
        let times: Vec<i64> = (0..rows).map(|k| first + k * step).collect();
        let mut values = Vec::with_capacity(times.len());
        let mut j = 0; // self.times[j] <= t < self.times[j + 1]
        for &t in &times {
            while j + 1 < self.times.len() && self.times[j + 1] <= t {
                j += 1;
            }
            let row = if self.times[j] == t || j + 1 == self.times.len() {
                self.values[j].clone()
            } else {
                let w = (t - self.times[j]) as f64 / (self.times[j + 1] - self.times[j]) as f64;
                self.values[j]
                    .iter()
                    .zip(&self.values[j + 1])
                    .map(|(a, b)| a + w * (b - a))
                    .collect()
            };
            values.push(row);
        }
        let report = SeriesReport {
            step,
            gaps: Vec::new(),
            ..self.report.clone()
        };
        Ok(TimeSeries {
            times,
            columns: self.columns.clone(),
            values,
            report,
        })
    }
}

/// The values of `column` in a CSV file, each once, in the order they first
/// appear: the series a file interleaves (the stations of a weather file,
/// to read one by one with [`SeriesOptions::filter`]).
pub fn distinct_values(path: &Path, column: &str) -> Result<Vec<String>> {
    let mut table = Table::open(path, b',')?;
    let c = table.column(column)?;
    let mut seen: Vec<String> = Vec::new();
    for (_, record) in table.rows()? {
        if !seen.iter().any(|s| s == &record[c]) {
            seen.push(record[c].to_string());
        }
    }
    Ok(seen)
}

/// Reads a CSV time series; see [`SeriesOptions`] and [`Missing`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use seq_data::readers::timeseries::{read_series, Missing, SeriesOptions};
///
/// let path = std::env::temp_dir().join("seq-doc-weather.csv");
/// std::fs::write(
///     &path,
///     "origin,time_hour,temp,humid\n\
///      EWR,2013-01-01 01:00:00,39.0,59.4\n\
///      JFK,2013-01-01 01:00:00,39.9,57.3\n\
///      EWR,2013-01-01 02:00:00,,61.6\n\
///      EWR,2013-01-01 04:00:00,39.9,62.2\n",
/// )?;
/// let options = SeriesOptions::new("time_hour")
///     .with_columns(["temp"])
///     .with_filter("origin", "EWR")
///     .with_missing(Missing::Interpolate);
/// let series = read_series(&path, &options)?;
/// assert_eq!(series.columns, ["temp"]);
/// // Filled linearly in time: a third of the way from 01:00 to 04:00.
/// assert!((series.values[1][0] - 39.3).abs() < 1e-12);
/// assert_eq!(series.report.filled, 1);
/// assert_eq!(series.report.gaps.len(), 1); // 03:00 is missing
/// # Ok(()) }
/// ```
pub fn read_series(path: &Path, options: &SeriesOptions) -> Result<TimeSeries> {
    let mut table = Table::open(path, b',')?;
    let time_col = table.column(&options.time_column)?;
    let filter = match &options.filter {
        Some((c, v)) => Some((table.column(c)?, v.clone())),
        None => None,
    };
    let names: Vec<String> = if options.columns.is_empty() {
        let skip = [
            Some(&options.time_column),
            options.filter.as_ref().map(|f| &f.0),
        ];
        table
            .headers
            .iter()
            .filter(|h| !skip.contains(&Some(h)))
            .cloned()
            .collect()
    } else {
        options.columns.clone()
    };
    let cols: Vec<usize> = names
        .iter()
        .map(|n| table.column(n))
        .collect::<Result<_>>()?;
    let mut times = Vec::new();
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut lines = Vec::new();
    let mut report = SeriesReport::default();
    // Values of the filter's column met, for the error when none matches.
    let mut seen: Vec<String> = Vec::new();
    for (line, record) in table.rows()? {
        if let Some((c, v)) = &filter {
            if record.get(*c) != Some(v.as_str()) {
                let other = format!("{:?}", &record[*c]);
                if seen.len() < 10 && !seen.contains(&other) {
                    seen.push(other);
                }
                continue;
            }
        }
        let t = parse_time(&record[time_col]).ok_or_else(|| {
            Error::parse(
                path,
                line,
                Some(time_col + 1),
                format!("not a timestamp: {:?}", &record[time_col]),
            )
        })?;
        let mut row = Vec::with_capacity(cols.len());
        for (&c, name) in cols.iter().zip(&names) {
            let field = record[c].trim();
            let v = match field {
                "" | "NA" | "NaN" | "nan" | "?" => {
                    report.missing.push((line, name.clone()));
                    f64::NAN
                }
                s => super::finite::<f64>(s).ok_or_else(|| {
                    Error::parse(
                        path,
                        line,
                        Some(c + 1),
                        format!("{name}: not a finite number: {s:?}"),
                    )
                })?,
            };
            row.push(v);
        }
        if let Some(&last) = times.last() {
            if t <= last {
                return Err(Error::parse(
                    path,
                    line,
                    Some(time_col + 1),
                    "timestamps must increase",
                ));
            }
        }
        times.push(t);
        rows.push(row);
        lines.push(line);
    }
    if rows.is_empty() {
        let (c, v) = options.filter.as_ref().map_or(("", ""), |(c, v)| (c, v));
        return Err(Error::Config(format!(
            "{}: no row has {c} = {v:?}; the column holds {}",
            path.display(),
            seen.join(", ")
        )));
    }
    match options.missing {
        Missing::Error if !report.missing.is_empty() => {
            let (line, col) = &report.missing[0];
            return Err(Error::parse(
                path,
                *line,
                None,
                format!(
                    "{} missing values under the error policy, the first in column {col:?}",
                    report.missing.len()
                ),
            ));
        }
        Missing::Error => {}
        Missing::Drop => {
            let before = rows.len();
            let keep: Vec<bool> = rows.iter().map(|r| r.iter().all(|v| !v.is_nan())).collect();
            let mut k = keep.iter();
            times.retain(|_| *k.next().unwrap_or(&true));
            rows.retain(|r| r.iter().all(|v| !v.is_nan()));
            report.dropped_rows = before - rows.len();
        }
        Missing::ForwardFill => report.filled = fill(&times, &mut rows, false),
        Missing::Interpolate => report.filled = fill(&times, &mut rows, true),
    }
    if let Some(c) = (0..names.len()).find(|&c| rows.iter().any(|r| r[c].is_nan())) {
        return Err(Error::Config(format!(
            "{}: column {:?} has no value to fill from",
            path.display(),
            names[c]
        )));
    }
    report.step = most_common_step(&times);
    report.gaps = gaps(&times, report.step);
    Ok(TimeSeries {
        times,
        columns: names,
        values: rows,
        report,
    })
}

/// Fills NaNs column by column: forward (a leading run takes the first
/// value) or by linear interpolation in time (ends take the nearest).
fn fill(times: &[i64], rows: &mut [Vec<f64>], interpolate: bool) -> usize {
    let mut filled = 0;
    let width = rows.first().map_or(0, Vec::len);
    for c in 0..width {
        let known: Vec<usize> = (0..rows.len()).filter(|&r| !rows[r][c].is_nan()).collect();
        if known.is_empty() {
            continue;
        }
        for r in 0..rows.len() {
            if !rows[r][c].is_nan() {
                continue;
            }
            let next = known.partition_point(|&k| k < r);
            let (prev, next) = (
                next.checked_sub(1).map(|i| known[i]),
                known.get(next).copied(),
            );
            rows[r][c] = match (prev, next) {
                (Some(p), Some(n)) if interpolate => {
                    let w = (times[r] - times[p]) as f64 / (times[n] - times[p]) as f64;
                    rows[p][c] + w * (rows[n][c] - rows[p][c])
                }
                (Some(p), _) => rows[p][c],
                (None, Some(n)) => rows[n][c],
                (None, None) => continue,
            };
            filled += 1;
        }
    }
    filled
}

fn most_common_step(times: &[i64]) -> i64 {
    let mut counts = std::collections::HashMap::new();
    for w in times.windows(2) {
        *counts.entry(w[1] - w[0]).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(step, n)| (n, -step))
        .map_or(0, |(s, _)| s)
}

fn gaps(times: &[i64], step: i64) -> Vec<Gap> {
    if step <= 0 {
        return Vec::new();
    }
    times
        .windows(2)
        .filter(|w| w[1] - w[0] > step)
        .map(|w| Gap {
            after: w[0],
            before: w[1],
            missing_steps: (w[1] - w[0]) / step - 1,
        })
        .collect()
}

/// Seconds since 1970 of `2013-01-01T06:00:00Z`, `2013-01-01 06:00:00`,
/// `2013-01-01` or Jena's `01.01.2009 00:10:00`, in years 1 to 9999; `None`
/// for anything else, an impossible date (February 30) included.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t),
        None => (s, "00:00:00"),
    };
    let (y, m, d) = if date.contains('.') {
        let p: Vec<&str> = date.split('.').collect();
        (
            p.get(2)?.parse().ok()?,
            p.get(1)?.parse().ok()?,
            p.first()?.parse().ok()?,
        )
    } else {
        let p: Vec<&str> = date.split('-').collect();
        (
            p.first()?.parse().ok()?,
            p.get(1)?.parse().ok()?,
            p.get(2)?.parse().ok()?,
        )
    };
    let t: Vec<&str> = time.split(':').collect();
    let (hh, mm): (i64, i64) = (
        t.first()?.parse().ok()?,
        t.get(1).map_or(Some(0), |v| v.parse().ok())?,
    );
    let ss: f64 = t.get(2).map_or(Some(0.0), |v| v.parse().ok())?;
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=days_in_month(y, m)).contains(&d)
        || !(0..24).contains(&hh)
        || !(0..60).contains(&mm)
        || !(0.0..61.0).contains(&ss)
    {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss as i64)
}

/// The days of month `m` (1-12) of year `y` (Gregorian leap years).
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_values_in_order_of_first_appearance() {
        let dir = std::env::temp_dir().join(format!("seq-distinct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.csv");
        std::fs::write(&path, "t,origin,v\n1,JFK,2\n1,EWR,3\n2,JFK,4\n2,LGA,5\n").unwrap();
        assert_eq!(
            distinct_values(&path, "origin").unwrap(),
            ["JFK", "EWR", "LGA"]
        );
        let err = distinct_values(&path, "station").unwrap_err().to_string();
        assert!(err.contains("w.csv") && err.contains("station"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamps_in_the_common_layouts() {
        assert_eq!(parse_time("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(parse_time("2013-01-01 06:00:00"), Some(1_357_020_000));
        assert_eq!(parse_time("01.01.2009 00:10:00"), Some(1_230_768_600));
        assert_eq!(parse_time("2013-13-01"), None);
        assert_eq!(parse_time("2013-02-29"), None);
        assert_eq!(parse_time("2012-02-29"), Some(1_330_473_600));
        assert_eq!(parse_time("2100-02-29"), None);
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_time("2013-04-31 00:00:00"), None);
        assert_eq!(parse_time("99999999999999-01-01"), None);
        assert_eq!(parse_time("yesterday"), None);
    }
}
