//! Batch normalisation over time (Ioffe & Szegedy, 2015), PyTorch's
//! `nn.BatchNorm1d` on seq's `[batch, time, channels]` layout.

use std::fmt;

use candle_core::{DType, Tensor, Var};
use candle_nn::VarBuilder;
use seq_core::{Error, Init, Mode, Module, Result, Seq};

/// The settings of a [`BatchNorm1d`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BatchNorm1dConfig {
    /// Channels `C` (required).
    pub num_features: usize,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    /// Weight of the newest batch in the running statistics (default 0.1).
    pub momentum: f64,
}

impl BatchNorm1dConfig {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1.
    pub fn new(num_features: usize) -> Self {
        BatchNorm1dConfig {
            num_features,
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// Added to the variance.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Weight of the newest batch in the running statistics, in `[0, 1]`.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
}

/// Each channel standardised over the batch and time, then scaled and
/// shifted:
///
/// ```text
/// y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
/// ```
///
/// In training, `mean_c` and the biased `var_c` are those of the batch's
/// real steps (padding masked out), and the running statistics move toward
/// them: `running = (1 - momentum) running + momentum batch`, with the
/// unbiased variance, as PyTorch does. In evaluation the running statistics
/// are used, so a prediction does not depend on the rest of the batch.
///
/// Input and output `[batch, time, C]` (PyTorch's is `[batch, C, time]`);
/// the mask passes through. Parameters `weight`, `bias`; buffers
/// `running_mean`, `running_var` (saved and loaded with the parameters; no
/// optimiser moves them, as they get no gradient).
pub struct BatchNorm1d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    config: BatchNorm1dConfig,
}

impl BatchNorm1d {
    /// Creates (or loads) the parameters and buffers under `vb`.
    pub fn new(config: BatchNorm1dConfig, vb: VarBuilder) -> Result<Self> {
        let c = config.num_features;
        let eps_ok = config.eps.is_finite() && config.eps >= 0.0;
        if c == 0 || !eps_ok || !(0.0..=1.0).contains(&config.momentum) {
            return Err(Error::config(
                "BatchNorm1d",
                format!(
                    "needs channels >= 1, eps >= 0 and momentum in [0, 1], got {c}, {} and {}",
                    config.eps, config.momentum
                ),
            ));
        }
        let get = |name: &str, value: f64| -> Result<Tensor> {
            Ok(vb.get_with_hints(c, name, Init::Const(value).to_hint(&c.into())?)?)
        };
        Ok(BatchNorm1d {
            weight: get("weight", 1.0)?,
            bias: get("bias", 0.0)?,
            running_mean: Var::from_tensor(&get("running_mean", 0.0)?)?,
            running_var: Var::from_tensor(&get("running_var", 1.0)?)?,
            config,
        })
    }

    /// The running mean and variance `[C]`.
    pub fn running_stats(&self) -> (&Tensor, &Tensor) {
        (self.running_mean.as_tensor(), self.running_var.as_tensor())
    }

    /// The batch's mean and biased variance per channel over its real
    /// steps, and how many there are.
    fn batch_stats(&self, xs: &Seq) -> Result<(Tensor, Tensor, usize)> {
        let x = xs.values();
        let (n, mask) = match xs.mask() {
            Some(m) => {
                let m = m.to_dtype(x.dtype())?.unsqueeze(2)?; // [batch, time, 1]
                let n = m.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()? as usize;
                (n, Some(m))
            }
            None => (xs.batch() * xs.time(), None),
        };
        if n < 2 {
            return Err(Error::config(
                "BatchNorm1d",
                format!("training needs more than one real step per channel, got {n}"),
            ));
        }
        let sum = |t: &Tensor| -> Result<Tensor> {
            let t = match &mask {
                Some(m) => t.broadcast_mul(m)?,
                None => t.clone(),
            };
            Ok(t.sum((0, 1))?) // [C]
        };
        let mean = (sum(x)? / n as f64)?;
        let var = (sum(&x.broadcast_sub(&mean)?.sqr()?)? / n as f64)?;
        Ok((mean, var, n))
    }
}

impl Module for BatchNorm1d {
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        xs.expect_features("BatchNorm1d", self.config.num_features)?;
        let (mean, var) = match mode {
            Mode::Train => {
                let (mean, var, n) = self.batch_stats(xs)?;
                let m = self.config.momentum;
                let dtype = self.running_mean.dtype();
                let unbiased = (var.detach() * (n as f64 / (n - 1) as f64))?;
                let blend = |running: &Var, batch: &Tensor| -> Result<()> {
                    let next =
                        ((running.as_tensor() * (1.0 - m))? + (batch.to_dtype(dtype)? * m)?)?;
                    Ok(running.set(&next)?)
                };
                blend(&self.running_mean, &mean.detach())?;
                blend(&self.running_var, &unbiased)?;
                (mean, var)
            }
            Mode::Eval => (
                self.running_mean.as_tensor().clone(),
                self.running_var.as_tensor().clone(),
            ),
        };
        let scale = (self.weight.clone() / (var + self.config.eps)?.sqrt()?)?; // [C]
        let y = xs
            .values()
            .broadcast_sub(&mean)?
            .broadcast_mul(&scale)?
            .broadcast_add(&self.bias)?;
        xs.with_values(y)
    }
}

impl fmt::Display for BatchNorm1d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        write!(
            f,
            "BatchNorm1d({}, eps={}, momentum={}; {} params)",
            c.num_features,
            c.eps,
            c.momentum,
            2 * c.num_features
        )
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use seq_core::testing::{max_abs_diff, randn};
    use seq_core::Params;

    use super::*;

    fn layer(c: usize) -> BatchNorm1d {
        let vb = Params::new(0).var_builder(DType::F64, &Device::Cpu);
        BatchNorm1d::new(BatchNorm1dConfig::new(c), vb).unwrap()
    }

    /// In evaluation a series' output is its own: the same alone as in a
    /// batch. Training moves the running statistics; evaluation does not.
    #[test]
    fn evaluation_reads_the_running_statistics_only() {
        let bn = layer(3);
        let x = randn(1, &[4, 6, 3]).unwrap();
        bn.forward(&Seq::new(x.clone()).unwrap(), Mode::Train)
            .unwrap();
        let (mean, _) = bn.running_stats();
        let moved = mean
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(moved > 0.0);
        let before = mean.clone().copy().unwrap();
        let all = bn
            .forward(&Seq::new(x.clone()).unwrap(), Mode::Eval)
            .unwrap();
        let one = bn
            .forward(&Seq::new(x.narrow(0, 2, 1).unwrap()).unwrap(), Mode::Eval)
            .unwrap();
        let row = all.values().narrow(0, 2, 1).unwrap();
        assert!(max_abs_diff(&row, one.values()).unwrap() < 1e-15);
        assert_eq!(max_abs_diff(&before, bn.running_stats().0).unwrap(), 0.0);
    }

    #[test]
    fn bad_settings_and_inputs_are_errors() {
        let vb = || Params::new(0).var_builder(DType::F64, &Device::Cpu);
        for c in [
            BatchNorm1dConfig::new(0),
            BatchNorm1dConfig::new(2).with_eps(-1.0),
            BatchNorm1dConfig::new(2).with_momentum(1.5),
        ] {
            assert!(BatchNorm1d::new(c, vb()).is_err());
        }
        let bn = layer(2);
        // One real step per channel: no variance to estimate.
        let x = Seq::new(randn(2, &[1, 1, 2]).unwrap()).unwrap();
        let e = bn.forward(&x, Mode::Train).unwrap_err().to_string();
        assert!(e.contains("more than one real step"), "{e}");
        let wrong = Seq::new(randn(3, &[2, 3, 5]).unwrap()).unwrap();
        assert!(bn.forward(&wrong, Mode::Eval).is_err());
    }
}
