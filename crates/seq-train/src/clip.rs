//! Gradient clipping, the course's remedy for exploding gradients.

use candle_core::backprop::GradStore;
use candle_core::Var;

use crate::Result;

/// Scales all gradients by `max_norm / total_norm` when their global L2
/// norm (one norm over every parameter, PyTorch's `clip_grad_norm_`)
/// exceeds `max_norm`. Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[(String, Var)], max_norm: f64) -> Result<f64> {
    let mut total = 0.0;
    for (_, v) in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += g
                .sqr()?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    let norm = total.sqrt();
    // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), applied when < 1.
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for (_, v) in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let clipped = (g * coef)?;
                grads.insert(v.as_tensor(), clipped);
            }
        }
    }
    Ok(norm)
}

/// Clamps every gradient entry to `[-limit, limit]` (`clip_grad_value_`).
pub fn clip_grad_value(grads: &mut GradStore, vars: &[(String, Var)], limit: f64) -> Result<()> {
    for (_, v) in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            let clipped = g.clamp(-limit, limit)?;
            grads.insert(v.as_tensor(), clipped);
        }
    }
    Ok(())
}
