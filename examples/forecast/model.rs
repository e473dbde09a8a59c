//! The forecaster: a sequence encoder (GRU, LSTM or dilated causal
//! convolutions) over the past 120 hours and one linear head that gives
//! the next 24 hours at once, one value per hour (trained on the squared
//! error) or one per quantile level (trained on the pinball loss).

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq::conv::{TemporalBlock, TemporalBlockConfig};
use seq::core::{Dropout, Linear, LinearConfig, Mode, Module, Seq};
use seq::recurrent::topology::last_layer_state;
use seq::recurrent::{CellKind, Recurrent, RecurrentConfig};
use seq::train::Task;

use crate::data::{Batch, AHEAD};

/// The encoder, a dropout and the head `[hidden] -> [24 * levels]`.
pub struct Forecaster {
    rnn: Option<Box<dyn Recurrent>>,
    tcn: Vec<TemporalBlock>,
    dropout: Dropout,
    head: Linear,
    /// Quantile levels of the outputs; empty for one point forecast per hour.
    quantiles: Vec<f64>,
    /// Degrees F per normalised unit of temperature, per station.
    temp_std: Vec<f64>,
}

impl Forecaster {
    pub fn new(
        kind: &str,
        inputs: usize,
        hidden: usize,
        quantiles: Vec<f64>,
        temp_std: Vec<f64>,
        vb: VarBuilder,
    ) -> seq::core::Result<Self> {
        let (rnn, tcn) = match kind {
            "tcn" => {
                // Dilations 1..16 with kernel 3: a receptive field of 125 hours.
                let blocks = [1, 2, 4, 8, 16]
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        let width = if i == 0 { inputs } else { hidden };
                        let c = TemporalBlockConfig::new(width, hidden, d);
                        TemporalBlock::new(c, vb.pp(format!("tcn.{i}")))
                    })
                    .collect::<seq::core::Result<Vec<_>>>()?;
                (None, blocks)
            }
            _ => {
                let cell = match kind {
                    "lstm" => CellKind::Lstm,
                    _ => CellKind::Gru,
                };
                let rnn = cell.build(RecurrentConfig::new(inputs, hidden), vb.pp("rnn"))?;
                (Some(rnn), Vec::new())
            }
        };
        let levels = quantiles.len().max(1);
        Ok(Forecaster {
            rnn,
            tcn,
            dropout: Dropout::new(0.2, 3)?,
            head: Linear::new(LinearConfig::new(hidden, AHEAD * levels), vb.pp("head"))?,
            quantiles,
            temp_std,
        })
    }

    /// `[batch, 24, levels]` normalised temperatures for the next 24 hours.
    pub fn forecast(&self, x: &Tensor, mode: Mode) -> seq::core::Result<Tensor> {
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
        let y = self.head.apply(&self.dropout.apply(&last, mode)?)?;
        Ok(y.reshape((x.dims()[0], AHEAD, self.quantiles.len().max(1)))?)
    }

    /// The point forecast `[batch, 24]`: the only output, or the median's.
    pub fn point(&self, forecast: &Tensor) -> seq::core::Result<Tensor> {
        let median = self.quantiles.iter().position(|&q| q == 0.5).unwrap_or(0);
        Ok(forecast.narrow(2, median, 1)?.squeeze(2)?)
    }

    /// The quantile levels (empty for point forecasts).
    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }
}

impl Task<Batch> for Forecaster {
    fn loss(&self, b: &Batch, mode: Mode) -> seq::core::Result<Tensor> {
        let forecast = self.forecast(&b.x, mode)?;
        match self.quantiles.is_empty() {
            true => seq::train::loss::mse(&self.point(&forecast)?, &b.y),
            false => seq::train::loss::pinball(&forecast, &b.y, &self.quantiles),
        }
    }

    /// The mean absolute error in degrees over every hour ahead and station.
    fn metrics(&self, batches: &[Batch]) -> seq::core::Result<Vec<(String, f64)>> {
        let (mut total, mut n) = (0.0, 0usize);
        for b in batches {
            let point = self.point(&self.forecast(&b.x, Mode::Eval)?)?;
            let (pred, y) = (point.to_vec2::<f32>()?, b.y.to_vec2::<f32>()?);
            for ((p, y), &(s, _)) in pred.iter().zip(&y).zip(&b.windows) {
                let err: f64 = p.iter().zip(y).map(|(p, y)| f64::from((p - y).abs())).sum();
                total += err * self.temp_std[s];
                n += p.len();
            }
        }
        Ok(vec![("mae_degrees".into(), total / n.max(1) as f64)])
    }

    fn size(&self, b: &Batch) -> usize {
        b.x.dims()[0]
    }
}
