//! RMSprop (Hinton, 2012), `torch.optim.RMSprop`'s rule (not centered):
//!
//! ```text
//! g = g + weight_decay * p
//! s = alpha s + (1 - alpha) g^2
//! b = momentum b + g / (sqrt(s) + eps);  p = p - lr b      (momentum > 0)
//! p = p - lr g / (sqrt(s) + eps)                            (otherwise)
//! ```

use std::collections::HashMap;

use candle_core::Tensor;

use crate::Result;

#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    p: &Tensor,
    mut g: Tensor,
    slots: &mut HashMap<&'static str, Tensor>,
    lr: f64,
    alpha: f64,
    eps: f64,
    momentum: f64,
    weight_decay: f64,
) -> Result<Tensor> {
    if weight_decay != 0.0 {
        g = (g + (p * weight_decay)?)?;
    }
    let s = match slots.get("square_avg") {
        Some(s) => ((s * alpha)? + (g.sqr()? * (1.0 - alpha))?)?,
        None => (g.sqr()? * (1.0 - alpha))?,
    };
    let step = g.div(&(s.sqrt()? + eps)?)?;
    slots.insert("square_avg", s);
    let step = if momentum > 0.0 {
        let b = match slots.get("momentum") {
            Some(b) => ((b * momentum)? + step)?,
            None => step,
        };
        slots.insert("momentum", b.clone());
        b
    } else {
        step
    };
    Ok((p - (step * lr)?)?)
}
