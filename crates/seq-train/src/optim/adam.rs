//! Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019),
//! `torch.optim.Adam` / `AdamW`'s rule:
//!
//! ```text
//! AdamW: p = p * (1 - lr * weight_decay)      Adam: g = g + weight_decay * p
//! m = beta1 m + (1 - beta1) g
//! v = beta2 v + (1 - beta2) g^2
//! p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```

use std::collections::HashMap;

use candle_core::Tensor;

use super::inplace::{self, Moment, Step};
use crate::Result;

/// How weight decay enters.
pub(super) enum Decay {
    /// Added to the gradient (Adam).
    L2(f64),
    /// Applied to the weights directly (AdamW).
    Decoupled(f64),
}

/// The new weights, or `None` when they were updated in place (on the CPU:
/// see [`inplace`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    p: &Tensor,
    mut g: Tensor,
    slots: &mut HashMap<&'static str, Tensor>,
    t: u64,
    lr: f64,
    (beta1, beta2): (f64, f64),
    eps: f64,
    decay: Decay,
) -> Result<Option<Tensor>> {
    if let Decay::L2(wd) = decay {
        if wd != 0.0 {
            g = (g + (p * wd)?)?;
        }
    }
    let decoupled = match decay {
        Decay::Decoupled(wd) => wd,
        Decay::L2(_) => 0.0,
    };
    let bias1 = 1.0 - beta1.powi(t as i32);
    let bias2 = 1.0 - beta2.powi(t as i32);
    let moments = (slots.get("exp_avg"), slots.get("exp_avg_sq"));
    let in_place = match moments {
        (Some(m), Some(v)) => inplace::applies(&[p, &g, m, v]),
        (None, None) => inplace::applies(&[p, &g]),
        _ => false,
    };
    if in_place {
        if slots.is_empty() {
            slots.insert("exp_avg", p.zeros_like()?);
            slots.insert("exp_avg_sq", p.zeros_like()?);
        }
        let (m, v) = (&slots["exp_avg"], &slots["exp_avg_sq"]);
        m.inplace_op2(
            &g,
            &Moment {
                decay: beta1,
                squared: false,
            },
        )?;
        v.inplace_op2(
            &g,
            &Moment {
                decay: beta2,
                squared: true,
            },
        )?;
        let step = Step {
            lr,
            decoupled_decay: decoupled,
            bias1,
            bias2,
            eps,
        };
        p.inplace_op3(m, v, &step)?;
        return Ok(None);
    }
    let mut p = p.clone();
    if decoupled != 0.0 {
        p = (p * (1.0 - lr * decoupled))?;
    }
    let m = match slots.get("exp_avg") {
        Some(m) => ((m * beta1)? + (&g * (1.0 - beta1))?)?,
        None => (&g * (1.0 - beta1))?,
    };
    let v = match slots.get("exp_avg_sq") {
        Some(v) => ((v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?,
        None => (g.sqr()? * (1.0 - beta2))?,
    };
    let denom = ((v.sqrt()? / bias2.sqrt())? + eps)?;
    let p = (p - (m.div(&denom)? * (lr / bias1))?)?;
    slots.insert("exp_avg", m);
    slots.insert("exp_avg_sq", v);
    Ok(Some(p))
}
