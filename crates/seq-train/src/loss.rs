//! Losses: cross-entropy from logits (class and sample weights, an ignored
//! padding index, label smoothing), binary cross-entropy from logits (with
//! `pos_weight` and element weights), MSE, MAE, Huber.
//! Each returns the mean over the counted elements, as PyTorch's defaults.

use candle_core::{DType, Tensor, D};
use seq_core::{Error, Result};

/// Cross-entropy from logits, PyTorch's `F.cross_entropy(logits, targets,
/// ignore_index, label_smoothing)`:
///
/// ```text
/// loss_i = -(1 - eps) log p_i[y_i] - eps / C * sum_c log p_i[c]      p_i = softmax(logits_i)
/// ```
///
/// averaged over the positions whose target is not `ignore_index`.
///
/// # Parameters
/// - `logits` `[N, C]` or `[batch, time, C]`; `targets` `[N]` or `[batch, time]` (u32 class ids).
/// - `ignore_index`: a target id that counts for nothing (padding), if any.
/// - `label_smoothing`: `eps` in `[0, 1)`.
pub fn cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    ignore_index: Option<u32>,
    label_smoothing: f64,
) -> Result<Tensor> {
    CrossEntropy {
        ignore_index,
        label_smoothing,
        ..CrossEntropy::new()
    }
    .loss(logits, targets)
}

/// Cross-entropy from logits with every option of PyTorch's
/// `nn.CrossEntropyLoss` and Keras' per-sample weights.
///
/// With class weights `w` and smoothing `eps`, for the counted positions
/// `i` (target not `ignore_index`):
///
/// ```text
/// loss_i = (1 - eps) (-w[y_i] log p_i[y_i]) + eps / C * sum_c (-w[c] log p_i[c])
/// loss   = sum_i s_i loss_i / sum_i w[y_i]
/// ```
///
/// where `s_i` are the sample weights (1 without them): PyTorch's weighted
/// mean; without class weights the denominator is the count of positions
/// (Keras' `sample_weight` with its default reduction).
#[derive(Debug, Clone, Default)]
pub struct CrossEntropy {
    /// Per-class weights `[C]` (default none: all 1).
    pub class_weight: Option<Tensor>,
    /// A target id that counts for nothing (default none).
    pub ignore_index: Option<u32>,
    /// `eps` in `[0, 1)` (default 0).
    pub label_smoothing: f64,
}

impl CrossEntropy {
    /// No class weights, nothing ignored, no smoothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Weights per class `[C]`.
    pub fn with_class_weight(mut self, weight: Tensor) -> Self {
        self.class_weight = Some(weight);
        self
    }

    /// Targets equal to `id` count for nothing.
    pub fn with_ignore_index(mut self, id: u32) -> Self {
        self.ignore_index = Some(id);
        self
    }

    /// Label smoothing `eps` in `[0, 1)`.
    pub fn with_label_smoothing(mut self, eps: f64) -> Self {
        self.label_smoothing = eps;
        self
    }

    /// The loss of `logits` `[N, C]` or `[batch, time, C]` for `targets`
    /// `[N]` or `[batch, time]` (class ids).
    pub fn loss(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        self.weighted(logits, targets, None)
    }

    /// [`CrossEntropy::loss`] with a weight per sample, `sample_weight`
    /// shaped as `targets`.
    pub fn loss_weighted(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        sample_weight: &Tensor,
    ) -> Result<Tensor> {
        if sample_weight.dims() != targets.dims() {
            return Err(Error::shape(
                "cross_entropy",
                "sample_weight",
                format!("{:?} (the targets' shape)", targets.dims()),
                sample_weight.dims(),
            ));
        }
        self.weighted(logits, targets, Some(sample_weight))
    }

    fn weighted(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (ignore_index, label_smoothing) = (self.ignore_index, self.label_smoothing);
        let c = *logits.dims().last().unwrap_or(&0);
        let n = logits.elem_count() / c.max(1);
        if targets.elem_count() != n || logits.rank() != targets.rank() + 1 {
            return Err(Error::shape(
                "cross_entropy",
                "targets",
                format!(
                    "the logits' leading dims {:?}",
                    &logits.dims()[..logits.rank().saturating_sub(1)]
                ),
                targets.dims(),
            ));
        }
        if !(0.0..1.0).contains(&label_smoothing) {
            return Err(Error::config(
                "cross_entropy",
                format!("label_smoothing must be in [0, 1), got {label_smoothing}"),
            ));
        }
        // Checked before anything indexes with them: a target outside the
        // classes would read another row's logits (or none).
        let ids = targets
            .flatten_all()?
            .to_dtype(DType::I64)?
            .to_vec1::<i64>()?;
        let ignored = |id: i64| ignore_index.is_some_and(|i| i64::from(i) == id);
        if let Some((at, id)) = ids
            .iter()
            .enumerate()
            .find(|&(_, &id)| !ignored(id) && !(0..c as i64).contains(&id))
        {
            return Err(Error::config(
                "cross_entropy",
                format!("target {id} (position {at}) is not a class id in 0..{c}"),
            ));
        }
        let logits = logits.reshape((n, c))?;
        let targets = targets.flatten_all()?.to_dtype(DType::U32)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?; // [N, C]
        let keep = match ignore_index {
            Some(i) => targets.ne(i)?.to_dtype(logp.dtype())?,
            None => Tensor::ones(n, logp.dtype(), logp.device())?,
        };
        // Ignored targets may be out of range: gather at 0 and mask out.
        let safe = keep.to_dtype(DType::U32)?.mul(&targets)?;
        let nll = logp.gather(&safe.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?; // [N]
        let dtype = logp.dtype();
        let class_weight = match &self.class_weight {
            Some(w) if w.dims() != [c] => {
                return Err(Error::shape(
                    "cross_entropy",
                    "class_weight",
                    format!("[{c}]"),
                    w.dims(),
                ))
            }
            Some(w) => Some(w.to_dtype(dtype)?.to_device(logp.device())?),
            None => None,
        };
        // -w[y_i] log p_i[y_i], and the weight each position adds to the mean.
        let (nll, denominator) = match &class_weight {
            Some(w) => {
                let wy = w.gather(&safe, 0)?.mul(&keep)?; // [N]
                ((nll * &wy)?, wy)
            }
            None => (nll, keep.clone()),
        };
        let per = if label_smoothing > 0.0 {
            // -sum_c w[c] log p_i[c] / C
            let smooth = match &class_weight {
                Some(w) => logp
                    .broadcast_mul(&w.unsqueeze(0)?)?
                    .mean(D::Minus1)?
                    .neg()?,
                None => logp.mean(D::Minus1)?.neg()?,
            };
            ((nll * (1.0 - label_smoothing))? + (smooth * label_smoothing)?)?
        } else {
            nll
        };
        let per = match sample_weight {
            Some(s) => per.mul(&s.flatten_all()?.to_dtype(dtype)?)?,
            None => per,
        };
        let total = denominator.sum_all()?;
        if total.to_dtype(DType::F64)?.to_scalar::<f64>()? <= 0.0 {
            // Every position ignored (or weighted 0): nothing to learn from.
            return Ok(Tensor::zeros((), dtype, logp.device())?);
        }
        Ok(per.mul(&keep)?.sum_all()?.div(&total)?)
    }
}

/// Binary cross-entropy from logits, `mean(max(z, 0) - z y + log(1 + exp(-|z|)))`,
/// PyTorch's `BCEWithLogitsLoss`: stable for any logit (candle-nn's takes
/// `log(sigmoid(z))`, which is `-inf`, then NaN, once a model is confident).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    bce_with_logits_weighted(logits, targets, None, None)
}

/// [`bce_with_logits`] with PyTorch's `pos_weight` (broadcast along the
/// last dimension: a weight per class for its positive examples) and
/// `weight` (broadcast to the logits' shape: a weight per element):
///
/// ```text
/// loss = mean(weight * ((1 - y) z + (1 + (pos_weight - 1) y) softplus(-z)))
/// ```
pub fn bce_with_logits_weighted(
    logits: &Tensor,
    targets: &Tensor,
    pos_weight: Option<&Tensor>,
    weight: Option<&Tensor>,
) -> Result<Tensor> {
    same_shape("bce_with_logits", logits, targets)?;
    let (z, y) = (logits, targets);
    // softplus(-z) = log(1 + exp(-|z|)) + max(-z, 0), stable for any z.
    let softplus = (z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()? + z.neg()?.relu()?)?;
    let scale = match pos_weight {
        Some(p) => (y.broadcast_mul(&(p - 1.0)?)? + 1.0)?,
        None => y.ones_like()?,
    };
    let per = ((y.affine(-1.0, 1.0)? * z)? + (scale * softplus)?)?;
    let per = match weight {
        Some(w) => per.broadcast_mul(w)?,
        None => per,
    };
    Ok(per.mean_all()?)
}

/// Mean squared error.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("mse", pred, target)?;
    Ok((pred - target)?.sqr()?.mean_all()?)
}

/// Mean absolute error.
pub fn mae(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("mae", pred, target)?;
    Ok((pred - target)?.abs()?.mean_all()?)
}

/// Huber loss, PyTorch's `HuberLoss(delta)`: `0.5 r^2` for `|r| <= delta`,
/// else `delta (|r| - 0.5 delta)`, averaged.
pub fn huber(pred: &Tensor, target: &Tensor, delta: f64) -> Result<Tensor> {
    same_shape("huber", pred, target)?;
    let r = (pred - target)?.abs()?;
    let quadratic = r.clamp(0.0, delta)?; // min(|r|, delta)
    let linear = (&r - &quadratic)?;
    // 0.5 q^2 + delta * l equals both branches.
    Ok(((quadratic.sqr()? * 0.5)? + (linear * delta)?)?.mean_all()?)
}

/// Pinball (quantile) loss: `pred` `[..., Q]` holds a forecast for each
/// of the `Q` quantile levels `quantiles` (each in (0, 1)), `target`
/// `[...]` the observed values. For `r = target - pred` and level `tau` the
/// loss is `max(tau r, (tau - 1) r)`, averaged over every element and
/// level: under- and over-forecasts cost `tau` and `1 - tau` per unit, so
/// over a sample the loss is least at its `tau`-quantile (at `tau = 0.5`
/// it is half the absolute error).
pub fn pinball(pred: &Tensor, target: &Tensor, quantiles: &[f64]) -> Result<Tensor> {
    if quantiles.is_empty() || quantiles.iter().any(|q| !(*q > 0.0 && *q < 1.0)) {
        return Err(Error::config(
            "pinball",
            format!("quantile levels must lie in (0, 1), got {quantiles:?}"),
        ));
    }
    let dims = pred.dims();
    if dims.split_last() != Some((&quantiles.len(), target.dims())) {
        return Err(Error::shape(
            "pinball",
            "prediction",
            format!(
                "{:?} + [{}] (the target's shape, then one per level)",
                target.dims(),
                quantiles.len()
            ),
            dims,
        ));
    }
    let tau = Tensor::new(quantiles, pred.device())?.to_dtype(pred.dtype())?;
    let r = target.unsqueeze(dims.len() - 1)?.broadcast_sub(pred)?; // [..., Q]
                                                                    // max(tau r, (tau - 1) r) = tau r + max(-r, 0)
    let loss = (r.broadcast_mul(&tau)? + r.neg()?.relu()?)?;
    Ok(loss.mean_all()?)
}

fn same_shape(op: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::shape(
            op,
            "target",
            format!("{:?} (the prediction's shape)", a.dims()),
            b.dims(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn scalar(t: Tensor) -> f64 {
        t.to_scalar::<f64>().unwrap()
    }

    /// Pinball loss by hand, and its least value over constant forecasts of
    /// a sample at the sample's quantile.
    #[test]
    fn pinball_by_hand_and_least_at_the_quantile() {
        let dev = &Device::Cpu;
        // Target 2; forecasts 1 (under by 1) and 4 (over by 2) at levels 0.1 and 0.9.
        let pred = Tensor::new(&[[1.0f64, 4.0]], dev).unwrap();
        let target = Tensor::new(&[2.0f64], dev).unwrap();
        let got = scalar(pinball(&pred, &target, &[0.1, 0.9]).unwrap());
        assert!((got - (0.1 * 1.0 + 0.1 * 2.0) / 2.0).abs() < 1e-15, "{got}");
        // Over 1..=9, the loss of a constant forecast c at level 0.25 is least at c = 3.
        let sample: Vec<f64> = (1..=9).map(f64::from).collect();
        let target = Tensor::new(&sample[..], dev).unwrap();
        let at = |c: f64| {
            let pred = Tensor::full(c, (9, 1), dev).unwrap();
            scalar(pinball(&pred, &target, &[0.25]).unwrap())
        };
        let best = (0..=100)
            .map(|i| i as f64 / 10.0)
            .min_by(|a, b| at(*a).total_cmp(&at(*b)));
        assert_eq!(best, Some(3.0));
        // Bad levels and shapes are errors.
        let pred = Tensor::zeros((9, 2), DType::F64, dev).unwrap();
        assert!(pinball(&pred, &target, &[0.5, 1.0]).is_err());
        assert!(pinball(&pred, &target, &[0.5]).is_err());
    }

    #[test]
    fn cross_entropy_by_hand() {
        let logits = Tensor::new(&[[1.0f64, 2.0, 0.5], [0.1, 0.2, 0.3]], &Device::Cpu).unwrap();
        let targets = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
        let lse = |r: [f64; 3]| r.iter().map(|v| v.exp()).sum::<f64>().ln();
        let l0 = lse([1.0, 2.0, 0.5]) - 2.0;
        let l1 = lse([0.1, 0.2, 0.3]) - 0.3;
        assert!(
            (scalar(cross_entropy(&logits, &targets, None, 0.0).unwrap()) - (l0 + l1) / 2.0).abs()
                < 1e-12
        );
        // The second target ignored.
        assert!(
            (scalar(cross_entropy(&logits, &targets, Some(2), 0.0).unwrap()) - l0).abs() < 1e-12
        );
        // Label smoothing 0.3 on the first row: 0.7 * nll + 0.3 * mean_c(-log p_c).
        let logits0 = logits.narrow(0, 0, 1).unwrap();
        let t0 = targets.narrow(0, 0, 1).unwrap();
        let smooth: f64 = [1.0f64, 2.0, 0.5]
            .iter()
            .map(|v| lse([1.0, 2.0, 0.5]) - v)
            .sum::<f64>()
            / 3.0;
        let want = 0.7 * l0 + 0.3 * smooth;
        assert!((scalar(cross_entropy(&logits0, &t0, None, 0.3).unwrap()) - want).abs() < 1e-12);
    }

    #[test]
    fn regression_losses_by_hand() {
        let p = Tensor::new(&[0.0f64, 1.0, 5.0], &Device::Cpu).unwrap();
        let t = Tensor::new(&[0.5f64, 1.0, 2.0], &Device::Cpu).unwrap();
        assert!((scalar(mse(&p, &t).unwrap()) - (0.25 + 9.0) / 3.0).abs() < 1e-12);
        assert!((scalar(mae(&p, &t).unwrap()) - 3.5 / 3.0).abs() < 1e-12);
        // delta 1: 0.5*0.25, 0, 1*(3 - 0.5)
        assert!((scalar(huber(&p, &t, 1.0).unwrap()) - (0.125 + 2.5) / 3.0).abs() < 1e-12);
        // BCE: z=0 gives log 2 for either label.
        let z = Tensor::new(&[0.0f64, 40.0], &Device::Cpu).unwrap();
        let y = Tensor::new(&[1.0f64, 1.0], &Device::Cpu).unwrap();
        assert!((scalar(bce_with_logits(&z, &y).unwrap()) - 2f64.ln() / 2.0).abs() < 1e-12);
    }
}
