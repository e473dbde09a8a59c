//! Weather forecasting (many-to-one regression): the temperature at Newark
//! 24 hours ahead from the previous 120 hours of every weather column, with
//! honest time splits (train January-September, validate October, test
//! November-December) and normalisation fitted on the training months only.
//! Prints the test mean absolute error next to the "same as 24 hours ago"
//! baseline.
//!
//! ```text
//! cargo run --release --example forecast                 # GRU
//! cargo run --release --example forecast -- --model tcn  # causal temporal convolutions
//! ```

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use clap::Parser;
use seq::conv::{TemporalBlock, TemporalBlockConfig};
use seq::core::{Dropout, Linear, LinearConfig, Mode, Module, Params, Rng, Seq};
use seq::data::pipeline::{Normalizer, Windows};
use seq::data::readers::timeseries::{parse_time, read_series, Missing, SeriesOptions};
use seq::recurrent::topology::last_layer_state;
use seq::recurrent::{CellKind, Recurrent, RecurrentConfig};
use seq::train::{EarlyStopping, Goal, OptimizerConfig, Planned, Task, Trainer, TrainerConfig};

use common::cli::{out_dir, positive};
use common::report::write_results;
use common::Error;

const PAST: usize = 120;
const AHEAD: usize = 24;

/// Forecast the temperature 24 hours ahead from 120 hours of weather.
#[derive(Parser)]
#[command(
    after_help = "Missing values are filled by linear interpolation in time, and missing\nhours by interpolation onto the hourly grid."
)]
struct Args {
    /// Hourly weather CSV with `time_hour`, `origin` and numeric columns.
    #[arg(long, default_value = "data/nyc-weather-2013.csv")]
    data: PathBuf,
    /// The `origin` to forecast.
    #[arg(long, default_value = "EWR")]
    station: String,
    /// gru, lstm or tcn (dilated causal convolutions).
    #[arg(long, default_value = "gru", value_parser = ["gru", "lstm", "tcn"])]
    model: String,
    /// At most this many epochs (early stopping on validation MAE).
    #[arg(long, default_value_t = 12, value_parser = positive)]
    epochs: usize,
    /// Units of the recurrent layer or channels of the TCN.
    #[arg(long, default_value_t = 32, value_parser = positive)]
    hidden: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Results and curves [default: runs/forecast/MODEL].
    #[arg(long)]
    out: Option<PathBuf>,
    /// A tiny run in seconds (used by `cargo xtask check`).
    #[arg(long)]
    smoke: bool,
}

/// Past hours `[batch, 120, columns]` and the normalised temperature 24
/// hours after the last of them `[batch, 1]`.
#[derive(Clone)]
struct Batch {
    x: Tensor,
    y: Tensor,
}

/// A sequence encoder and a linear head on its last step.
struct Forecaster {
    rnn: Option<Box<dyn Recurrent>>,
    tcn: Vec<TemporalBlock>,
    dropout: Dropout,
    head: Linear,
    /// Degrees per normalised unit of temperature, for the MAE metric.
    temp_std: f64,
}

impl Forecaster {
    fn new(
        kind: &str,
        inputs: usize,
        hidden: usize,
        temp_std: f64,
        vb: VarBuilder,
    ) -> seq::core::Result<Self> {
        let (rnn, tcn) = match kind {
            "tcn" => {
                // Dilations 1..16 with kernel 3: a receptive field of 125 hours.
                let blocks = [1, 2, 4, 8, 16]
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        TemporalBlock::new(
                            TemporalBlockConfig::new(
                                if i == 0 { inputs } else { hidden },
                                hidden,
                                d,
                            ),
                            vb.pp(format!("tcn.{i}")),
                        )
                    })
                    .collect::<seq::core::Result<Vec<_>>>()?;
                (None, blocks)
            }
            _ => {
                let cell = if kind == "lstm" {
                    CellKind::Lstm
                } else {
                    CellKind::Gru
                };
                (
                    Some(cell.build(RecurrentConfig::new(inputs, hidden), vb.pp("rnn"))?),
                    Vec::new(),
                )
            }
        };
        Ok(Forecaster {
            rnn,
            tcn,
            dropout: Dropout::new(0.2, 3)?,
            head: Linear::new(LinearConfig::new(hidden, 1), vb.pp("head"))?,
            temp_std,
        })
    }

    /// `[batch, 1]` normalised temperatures.
    fn predict(&self, x: &Tensor, mode: Mode) -> seq::core::Result<Tensor> {
        let xs = Seq::new(x.clone())?;
        let last = match &self.rnn {
            Some(rnn) => {
                last_layer_state(&rnn.forward_with_state(&xs, None, mode)?.1, rnn.config())?
            }
            None => {
                let mut h = xs;
                for block in &self.tcn {
                    h = block.forward(&h, mode)?;
                }
                seq::core::pool::last_over_time(h.values(), None)?
            }
        };
        self.head.apply(&self.dropout.apply(&last, mode)?)
    }
}

impl Task<Batch> for Forecaster {
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        seq::train::loss::mse(&self.predict(&b.x, mode)?, &b.y)
    }

    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut total, mut n) = (0.0, 0);
        for b in batches {
            let err = (self.predict(&b.x, Mode::Eval)? - &b.y)?.abs()?;
            total += err.sum_all()?.to_scalar::<f32>()? as f64;
            n += b.y.dims()[0];
        }
        Ok(vec![(
            "mae_degrees".into(),
            total / n as f64 * self.temp_std,
        )])
    }

    fn size(&self, b: &Batch) -> usize {
        b.x.dims()[0]
    }
}

fn main() {
    common::main("forecast", || run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let start = Instant::now();
    let device = seq::core::best_device();
    let options = SeriesOptions {
        time_column: "time_hour".into(),
        filter: Some(("origin".into(), args.station.clone())),
        missing: Missing::Interpolate,
        ..SeriesOptions::default()
    };
    let raw = read_series(&args.data, &options).map_err(|e| {
        format!(
            "--station {} --data {}: {e}",
            args.station,
            args.data.display()
        )
    })?;
    println!(
        "{}: {} hours at {}, {} missing values filled, {} gaps ({} hours) filled on the hourly grid",
        args.data.display(),
        raw.values.len(),
        args.station,
        raw.report.filled,
        raw.report.gaps.len(),
        raw.report.gaps.iter().map(|g| g.missing_steps).sum::<i64>()
    );
    let series = raw.resample(3600)?;
    let temp = series
        .columns
        .iter()
        .position(|c| c == "temp")
        .ok_or("the data has no `temp` column")?;
    let at = |date: &str| -> Result<usize, Error> {
        let t = parse_time(date).ok_or("a fixed date")?;
        Ok(series.times.partition_point(|&x| x < t))
    };
    let (oct, nov) = (at("2013-10-01T00:00:00Z")?, at("2013-11-01T00:00:00Z")?);
    let n = series.values.len();
    let norm = Normalizer::fit(&series.values, 0..oct)?;
    let values = norm.apply(&series.values);

    let windows = Windows {
        sequence_length: PAST,
        sampling_rate: 1,
        sequence_stride: 1,
        target_offset: PAST - 1 + AHEAD,
    };
    let split =
        |rows: std::ops::Range<usize>, stride: usize, limit: usize| -> Result<Vec<usize>, Error> {
            Ok(windows
                .starts(rows)?
                .into_iter()
                .step_by(stride)
                .take(limit)
                .collect())
        };
    let limit = if args.smoke { 64 } else { usize::MAX };
    let (train, val, test) = (
        split(0..oct, 2, limit)?,
        split(oct..nov, 1, limit)?,
        split(nov..n, 1, limit)?,
    );
    // The windows starting at `chunk`, as one batch.
    let make = |chunk: &[usize]| -> seq::core::Result<Batch> {
        let x: Vec<f32> = chunk
            .iter()
            .flat_map(|&s| {
                windows
                    .rows(s)
                    .flat_map(|r| values[r].iter().map(|&v| v as f32))
            })
            .collect();
        let y: Vec<f32> = chunk
            .iter()
            .map(|&s| values[windows.target(s)][temp] as f32)
            .collect();
        Ok(Batch {
            x: Tensor::from_vec(x, (chunk.len(), PAST, series.columns.len()), &device)?,
            y: Tensor::from_vec(y, (chunk.len(), 1), &device)?,
        })
    };
    let batch = |starts: &[usize]| -> seq::core::Result<Vec<Batch>> {
        starts.chunks(64).map(make).collect()
    };
    // Training windows: new batches of 64 every epoch, drawn from the seed.
    let train_b = Planned::new(
        |epoch: usize, seed: u64| {
            let mut order = train.clone();
            Rng::new(seed ^ (epoch as u64 + 1)).shuffle(&mut order);
            Ok(order.chunks(64).map(<[usize]>::to_vec).collect())
        },
        |chunk: Vec<usize>| Ok(make(&chunk)?),
    );
    let (val_b, test_b) = (batch(&val)?, batch(&test)?);
    println!(
        "{} training, {} validation, {} test windows of {PAST} hours; model {}",
        train.len(),
        val.len(),
        test.len(),
        args.model
    );

    // The baseline: the temperature 24 hours before the target, the last input hour.
    let baseline = test
        .iter()
        .map(|&s| {
            (series.values[windows.target(s)][temp]
                - series.values[windows.target(s) - AHEAD][temp])
                .abs()
        })
        .sum::<f64>()
        / test.len() as f64;

    let params = Params::new(args.seed);
    let model = Forecaster::new(
        &args.model,
        series.columns.len(),
        args.hidden,
        norm.std[temp],
        params.var_builder(DType::F32, &device),
    )?;
    let optimizer = OptimizerConfig::AdamW {
        lr: args.lr,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
    }
    .build(params.named_vars())?;
    let out = out_dir(args.out.as_deref(), "forecast", &args.model).join(if args.smoke {
        "smoke"
    } else {
        ""
    });
    let mut tc = TrainerConfig::new(if args.smoke { 1 } else { args.epochs });
    tc.seed = args.seed;
    tc.clip_norm = Some(1.0);
    tc.early_stopping = Some(EarlyStopping::new("val_mae_degrees", Goal::Min, 3));
    tc.log_dir = Some(out.clone());
    let mut trainer = Trainer::new(tc, params.clone(), optimizer);
    let history = trainer.fit(&model, &train_b, Some(&val_b))?;
    let mae = model.metrics(&test_b)?[0].1;
    let seconds = start.elapsed().as_secs_f64();
    println!("test MAE {mae:.3} F (same as 24 hours ago: {baseline:.3} F) after {} epochs in {seconds:.1} s", history.epochs.len());
    params.save(out.join("model.safetensors"))?;
    write_results(
        &out,
        &serde_json::json!({
            "example": "forecast",
            "model": args.model.to_string(),
            "test_mae_f": mae,
            "baseline_mae_f": baseline,
            "epochs": history.epochs.len(),
            "seconds": seconds,
        }),
    )?;
    println!(
        "saved the model, results and training curves in {}",
        out.display()
    );
    Ok(())
}
