//! Learning-rate schedules: the rate of each step from the base rate.

use std::f64::consts::PI;

/// How the learning rate changes with the (0-based) step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// `lr` at every step.
    Constant,
    /// `lr * gamma^floor(step / every)` (PyTorch's `StepLR`, counted in steps).
    Step {
        /// Steps between decays.
        every: u64,
        /// Factor per decay.
        gamma: f64,
    },
    /// `lr * gamma^step` (`ExponentialLR`).
    Exponential {
        /// Factor per step.
        gamma: f64,
    },
    /// Linear warm-up from 0 over `warmup` steps, then a cosine from `lr`
    /// down to `min_lr` at `total` steps (and `min_lr` after).
    Cosine {
        /// Warm-up steps.
        warmup: u64,
        /// Steps of the whole run.
        total: u64,
        /// The final rate.
        min_lr: f64,
    },
    /// The Transformer paper's (Vaswani et al., 2017, eq. 3), scaled so it
    /// peaks at `lr`: `lr * min((s+1) / warmup, sqrt(warmup / (s+1)))`.
    InverseSqrt {
        /// Warm-up steps.
        warmup: u64,
    },
}

impl Schedule {
    /// The rate at `step` for the base rate `lr`.
    pub fn rate(&self, lr: f64, step: u64) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => lr * gamma.powi((step / every.max(1)) as i32),
            Schedule::Exponential { gamma } => lr * gamma.powf(step as f64),
            Schedule::Cosine {
                warmup,
                total,
                min_lr,
            } => {
                if step < warmup {
                    return lr * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                min_lr + 0.5 * (lr - min_lr) * (1.0 + (PI * progress).cos())
            }
            Schedule::InverseSqrt { warmup } => {
                let (s, w) = ((step + 1) as f64, warmup.max(1) as f64);
                lr * (s / w).min((w / s).sqrt())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_schedule_at_known_steps() {
        assert_eq!(Schedule::Constant.rate(0.1, 99), 0.1);
        assert!(
            (Schedule::Step {
                every: 10,
                gamma: 0.5
            }
            .rate(1.0, 25)
                - 0.25)
                .abs()
                < 1e-15
        );
        assert!((Schedule::Exponential { gamma: 0.9 }.rate(1.0, 2) - 0.81).abs() < 1e-15);
        let cos = Schedule::Cosine {
            warmup: 10,
            total: 110,
            min_lr: 0.0,
        };
        assert!((cos.rate(1.0, 4) - 0.5).abs() < 1e-15);
        assert!((cos.rate(1.0, 10) - 1.0).abs() < 1e-15);
        assert!((cos.rate(1.0, 60) - 0.5).abs() < 1e-12);
        assert!(cos.rate(1.0, 500).abs() < 1e-15);
        let inv = Schedule::InverseSqrt { warmup: 100 };
        assert!((inv.rate(1.0, 99) - 1.0).abs() < 1e-15);
        assert!((inv.rate(1.0, 399) - 0.5).abs() < 1e-15);
        assert!((inv.rate(1.0, 49) - 0.5).abs() < 1e-15);
    }
}
