//! SGD with momentum and Nesterov momentum, `torch.optim.SGD`'s rule
//! (dampening 0):
//!
//! ```text
//! g = g + weight_decay * p
//! b = g (first step), else momentum * b + g
//! g = g + momentum * b (Nesterov), else b
//! p = p - lr * g
//! ```

use std::collections::HashMap;

use candle_core::Tensor;

use crate::Result;

pub(super) fn update(
    p: &Tensor,
    mut g: Tensor,
    slots: &mut HashMap<&'static str, Tensor>,
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
) -> Result<Tensor> {
    if weight_decay != 0.0 {
        g = (g + (p * weight_decay)?)?;
    }
    if momentum != 0.0 {
        let b = match slots.get("momentum") {
            Some(b) => ((b * momentum)? + &g)?,
            None => g.clone(),
        };
        g = if nesterov {
            (g + (&b * momentum)?)?
        } else {
            b.clone()
        };
        slots.insert("momentum", b);
    }
    Ok((p - (g * lr)?)?)
}
