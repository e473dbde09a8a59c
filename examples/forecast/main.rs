//! Weather forecasting (sequence to sequence regression): the temperature
//! of each of the next 24 hours from the previous 120 hours of every
//! weather column, at every station of the file. One model learns from all
//! stations, each normalised with its own training statistics, with the
//! hour of the day and the time of year as inputs; honest time splits
//! (train January-September, validate October, test November-December).
//! Reports each station's error per hour ahead next to "the same as 24
//! hours before", and with `--quantiles` an interval and its coverage.
//!
//! ```text
//! cargo run --release --example forecast                            # GRU, both stations
//! cargo run --release --example forecast -- --quantiles 0.1,0.5,0.9  # and an 80% interval
//! cargo run --release --example forecast -- --model tcn --seeds 3   # causal convolutions, 3 seeds
//! ```

#[path = "../common/mod.rs"]
mod common;
mod data;
mod model;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device};
use clap::Parser;
use seq::core::{Params, Rng};
use seq::data::pipeline::Normalizer;
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Planned, Trainer, TrainerConfig};

use common::cli::{level, out_dir, positive};
use common::report::{mean_sd, write_results, write_text};
use common::Error;
use data::{Stations, AHEAD, PAST};
use model::Forecaster;
use report::Scores;

/// Forecast the next 24 hours of temperature from 120 hours of weather.
#[derive(Parser)]
#[command(
    after_help = "Missing values are filled by linear interpolation in time, and missing\nhours by interpolation onto the hourly grid."
)]
struct Args {
    /// Hourly weather CSV with `time_hour`, `origin` and numeric columns.
    #[arg(long, default_value = "data/nyc-weather-2013.csv")]
    data: PathBuf,
    /// The `origin`s to learn from and forecast, comma-separated [default: every one in the file].
    #[arg(long, value_delimiter = ',')]
    stations: Vec<String>,
    /// gru, lstm or tcn (dilated causal convolutions).
    #[arg(long, default_value = "gru", value_parser = ["gru", "lstm", "tcn"])]
    model: String,
    /// Quantile levels to forecast, comma-separated and rising, with 0.5
    /// (the point forecast) among them, e.g. 0.1,0.5,0.9; trained on the
    /// pinball loss [default: one point forecast per hour, squared error].
    #[arg(long, value_delimiter = ',', value_parser = level)]
    quantiles: Vec<f64>,
    /// At most this many epochs (early stopping on validation MAE).
    #[arg(long, default_value_t = 12, value_parser = positive)]
    epochs: usize,
    /// Units of the recurrent layer or channels of the TCN.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    hidden: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed (the first one with --seeds).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train with this many seeds (SEED, SEED + 1, ...), each saved in
    /// OUT/seed-N, and report the mean and standard deviation.
    #[arg(long, default_value_t = 1, value_parser = positive)]
    seeds: usize,
    /// Results, plot and curves [default: runs/forecast/MODEL].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Forecast the 24 hours after the last 120 of each station in --data
    /// with the model saved in --from, then exit.
    #[arg(long)]
    forecast: bool,
    /// The folder a training run saved (`config.json`, `model.safetensors`)
    /// [default: OUT].
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// A tiny run in seconds, saved in OUT/smoke (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
    /// Where to run: auto (a GPU when this build has one), cpu, cuda[:N]
    /// or metal[:N].
    #[arg(long, default_value = "auto", value_parser = common::cli::device)]
    device: candle_core::Device,
}

fn main() {
    common::main("forecast", || run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let q = &args.quantiles;
    if !q.is_empty() && (!q.contains(&0.5) || q.windows(2).any(|w| w[0] >= w[1])) {
        return Err(format!("--quantiles {q:?}: the levels must rise and include 0.5").into());
    }
    let device = args.device.clone();
    println!("device: {}", seq::core::device_name(&device));
    let mut out = out_dir(args.out.as_deref(), "forecast", &args.model);
    if args.smoke {
        out = out.join("smoke"); // a smoke run never overwrites a trained model
    }
    if args.forecast {
        return forecast(&args, args.from.as_deref().unwrap_or(&out), &device);
    }
    let limit = if args.smoke { 64 } else { usize::MAX };
    let data = Stations::read(&args.data, &args.stations, limit)?;
    let seeds: Vec<u64> = (args.seed..).take(args.seeds).collect();
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in &seeds {
        let dir = match seeds.len() {
            1 => out.clone(),
            _ => out.join(format!("seed-{seed}")),
        };
        runs.push(train(&args, &data, seed, &dir, &device)?);
    }
    if seeds.len() > 1 {
        summarise(&args, &data, &seeds, &runs, &out)?;
    }
    Ok(())
}

/// Trains one model and scores it on the test months; saves the model, the
/// stations' normalisation, the results, `horizons.tsv` and `forecast.svg`.
fn train(
    args: &Args,
    data: &Stations,
    seed: u64,
    out: &Path,
    device: &Device,
) -> Result<Vec<Scores>, Error> {
    let start = Instant::now();
    let (train, val, test) = (data.split(0), data.split(1), data.split(2));
    println!(
        "{} training, {} validation, {} test windows of {PAST} hours from {} stations; model {}, seed {seed}",
        train.len(),
        val.len(),
        test.len(),
        data.stations.len(),
        args.model
    );
    let batches = |w: &[(usize, usize)]| -> seq::core::Result<Vec<_>> {
        w.chunks(64).map(|c| data.batch(c, device)).collect()
    };
    // Training windows: new batches of 64 every epoch, drawn from the seed.
    let train_b = Planned::new(
        |epoch: usize, seed: u64| {
            let mut order = train.clone();
            Rng::new(seed ^ (epoch as u64 + 1)).shuffle(&mut order);
            Ok(order.chunks(64).map(<[_]>::to_vec).collect())
        },
        |chunk: Vec<(usize, usize)>| Ok(data.batch(&chunk, device)?),
    );
    let (val_b, test_b) = (batches(&val)?, batches(&test)?);

    let params = Params::new(seed);
    let model = Forecaster::new(
        &args.model,
        data.inputs(),
        args.hidden,
        args.quantiles.clone(),
        data.stations.iter().map(|s| s.temp_std()).collect(),
        params.var_builder(DType::F32, device),
    )?;
    let optimizer = OptimizerConfig::adamw(args.lr)
        .with_weight_decay(0.0)
        .build(params.named_vars())?;
    let mut tc = TrainerConfig::new(if args.smoke { 1 } else { args.epochs });
    tc.seed = seed;
    tc.clip_norm = Some(1.0);
    tc.early_stopping = Some(EarlyStopping::new("val_mae_degrees", Goal::Min, 3));
    tc.log_dir = Some(out.to_path_buf());
    let mut trainer = Trainer::new(tc, params.clone(), optimizer);
    let history = trainer.fit(&model, &train_b, Some(&val_b))?;
    let scores = report::evaluate(&model, data, &test_b)?;
    let seconds = start.elapsed().as_secs_f64();
    for sc in &scores {
        let ((mean, base_mean), (day, base_day)) = (sc.mean(), sc.day());
        let coverage = sc
            .coverage
            .map(|c| format!("; {:.1}% of hours inside the outer quantiles", 100.0 * c))
            .unwrap_or_default();
        println!(
            "{}: test MAE over the next {AHEAD} hours {mean:.3} F (same as 24 hours before: {base_mean:.3} F, {:.1}% better); 24 hours ahead {day:.3} F ({base_day:.3} F, {:.1}% better){coverage}",
            sc.station,
            100.0 * (1.0 - mean / base_mean),
            100.0 * (1.0 - day / base_day),
        );
    }
    println!("{} epochs in {seconds:.1} s", history.epochs.len());
    for line in report::next_day(&model, data, device)? {
        println!("{line}");
    }
    params.save(out.join("model.safetensors"))?;
    let config = serde_json::json!({
        "model": args.model,
        "hidden": args.hidden,
        "quantiles": args.quantiles,
        "columns": data.columns,
        "stations": data.stations.iter().map(|st| serde_json::json!({
            "station": st.name, "mean": st.norm.mean, "std": st.norm.std,
        })).collect::<Vec<_>>(),
    });
    write_text(
        &out.join("config.json"),
        &serde_json::to_string_pretty(&config)?,
    )?;
    report::write_horizons(&out.join("horizons.tsv"), &scores)?;
    report::plot(&out.join("forecast.svg"), &scores)?;
    write_results(
        out,
        &serde_json::json!({
            "example": "forecast",
            "model": args.model,
            "hidden": args.hidden,
            "seed": seed,
            "past_hours": PAST,
            "hours_ahead": AHEAD,
            "columns": data.columns,
            "quantiles": args.quantiles,
            "stations": data.stations.iter().zip(&scores).map(|(st, sc)| serde_json::json!({
                "station": st.name,
                "mean": st.norm.mean,
                "std": st.norm.std,
                "test_mae_f_by_hour": sc.mae,
                "same_as_24h_before_f_by_hour": sc.baseline,
                "test_mae_f": sc.mean().0,
                "baseline_mae_f": sc.mean().1,
                "test_mae_f_24h": sc.day().0,
                "baseline_mae_f_24h": sc.day().1,
                "interval_coverage": sc.coverage,
            })).collect::<Vec<_>>(),
            "epochs": history.epochs.len(),
            "seconds": seconds,
        }),
    )?;
    println!(
        "saved the model, results, horizons.tsv, forecast.svg and training curves in {}",
        out.display()
    );
    Ok(scores)
}

/// `--forecast`: the model saved in `dir` on the last 120 hours of each
/// of its stations in `--data`.
fn forecast(args: &Args, dir: &Path, device: &Device) -> Result<(), Error> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (train first, or point --from at a run)",
            path.display()
        )
    })?;
    let bad = |what: &str| format!("{}: {what}", path.display());
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let numbers = |v: &serde_json::Value| -> Option<Vec<f64>> {
        v.as_array()?
            .iter()
            .map(serde_json::Value::as_f64)
            .collect()
    };
    let kind = v["model"].as_str().ok_or_else(|| bad("no `model`"))?;
    let hidden = v["hidden"].as_u64().ok_or_else(|| bad("no `hidden`"))? as usize;
    let quantiles = numbers(&v["quantiles"]).ok_or_else(|| bad("no `quantiles`"))?;
    let columns = strings(&v["columns"]).ok_or_else(|| bad("no `columns`"))?;
    let stations = v["stations"]
        .as_array()
        .ok_or_else(|| bad("no `stations`"))?;
    let norms = stations
        .iter()
        .map(|s| {
            let name = s["station"].as_str().map(str::to_string);
            let (mean, std) = (numbers(&s["mean"]), numbers(&s["std"]));
            match (name, mean, std) {
                (Some(name), Some(mean), Some(std)) => Ok((name, Normalizer { mean, std })),
                _ => Err(bad("a station without `station`, `mean` and `std`")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = Stations::read_with(&args.data, &columns, norms)?;
    let params = Params::new(0);
    let model = Forecaster::new(
        kind,
        data.inputs(),
        hidden,
        quantiles,
        data.stations.iter().map(|s| s.temp_std()).collect(),
        params.var_builder(DType::F32, device),
    )?;
    params.load(dir.join("model.safetensors"))?;
    for line in report::next_day(&model, &data, device)? {
        println!("{line}");
    }
    Ok(())
}

/// The mean and sample standard deviation over seeds of each station's
/// gain over the baseline, over the next 24 hours and 24 hours ahead.
fn summarise(
    args: &Args,
    data: &Stations,
    seeds: &[u64],
    runs: &[Vec<Scores>],
    out: &Path,
) -> Result<(), Error> {
    let mut rows = Vec::new();
    for (s, st) in data.stations.iter().enumerate() {
        let gain = |f: fn(&Scores) -> (f64, f64)| -> Vec<f64> {
            runs.iter()
                .map(|r| {
                    let (m, b) = f(&r[s]);
                    1.0 - m / b
                })
                .collect()
        };
        let (mae, day): (Vec<f64>, Vec<f64>) =
            runs.iter().map(|r| (r[s].mean().0, r[s].day().0)).unzip();
        let ((g, gsd), (gd, gdsd)) = (mean_sd(&gain(Scores::mean)), mean_sd(&gain(Scores::day)));
        let ((m, msd), (d, dsd)) = (mean_sd(&mae), mean_sd(&day));
        println!(
            "{} over {} seeds: test MAE {m:.3} +- {msd:.3} F, {:.1}% +- {:.1}% better than the same as 24 hours before; 24 hours ahead {d:.3} +- {dsd:.3} F, {:.1}% +- {:.1}% better",
            st.name,
            seeds.len(),
            100.0 * g,
            100.0 * gsd,
            100.0 * gd,
            100.0 * gdsd
        );
        rows.push(serde_json::json!({
            "station": st.name,
            "test_mae_f": mae,
            "test_mae_f_24h": day,
            "gain_over_baseline_mean": g,
            "gain_over_baseline_sd": gsd,
            "gain_24h_mean": gd,
            "gain_24h_sd": gdsd,
        }));
    }
    write_results(
        out,
        &serde_json::json!({
            "example": "forecast",
            "model": args.model,
            "seeds": seeds,
            "stations": rows,
        }),
    )
}
