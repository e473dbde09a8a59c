//! Learning-rate schedules: the rate of each step from the base rate.

use std::f64::consts::PI;

/// How the learning rate changes with the (0-based) step.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// PyTorch's `OneCycleLR` (Smith & Topin, 2018) with cosine phases, the
    /// base rate its peak: from `lr / div_factor` up to `lr` over the first
    /// `pct_start` of `total` steps, then down to
    /// `lr / div_factor / final_div_factor`. PyTorch's defaults: 0.3, 25, 1e4.
    OneCycle {
        /// Steps of the whole run.
        total: u64,
        /// The share of the steps spent rising.
        pct_start: f64,
        /// The first rate is the peak over this.
        div_factor: f64,
        /// The last rate is the first over this.
        final_div_factor: f64,
    },
    /// A schedule of the user's: the rate at `step` for the base rate
    /// `lr` (a function, so a schedule stays `Copy` and comparable). Not
    /// serialisable: saving a configuration that holds one is an error.
    #[cfg_attr(feature = "serde", serde(skip))]
    Custom(RateFn),
}

/// A user's learning-rate function, `rate(lr, step)`; equal when it is
/// the same function.
#[derive(Clone, Copy)]
pub struct RateFn(pub fn(lr: f64, step: u64) -> f64);

impl PartialEq for RateFn {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl std::fmt::Debug for RateFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RateFn({:p})", self.0 as *const ())
    }
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
            Schedule::OneCycle {
                total,
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                let initial = lr / div_factor;
                let last = initial / final_div_factor;
                let rise_end = (pct_start * total as f64 - 1.0).max(1.0);
                let end = (total as f64 - 1.0).max(rise_end + 1.0);
                let s = step as f64;
                let anneal = |from: f64, to: f64, pct: f64| {
                    to + (from - to) / 2.0 * ((PI * pct.min(1.0)).cos() + 1.0)
                };
                match s <= rise_end {
                    true => anneal(initial, lr, s / rise_end),
                    false => anneal(lr, last, (s - rise_end) / (end - rise_end)),
                }
            }
            Schedule::Custom(RateFn(f)) => f(lr, step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_schedule_is_the_users_function() {
        fn halving(lr: f64, step: u64) -> f64 {
            lr / (1u64 << step.min(60)) as f64
        }
        let s = Schedule::Custom(RateFn(halving));
        assert_eq!((s.rate(1.0, 0), s.rate(1.0, 3)), (1.0, 0.125));
    }

    #[test]
    fn one_cycle_matches_pytorch() {
        // torch.optim.lr_scheduler.OneCycleLR(max_lr=0.1, total_steps=20).
        let torch = [
            0.004,
            0.01316718427,
            0.03716718427,
            0.06683281573,
            0.09083281573,
            0.1,
            0.098746400624,
            0.095048463201,
            0.089091617757,
            0.081174565395,
            0.071694300179,
            0.061126202194,
            0.0500002,
            0.038874197806,
            0.028306099821,
            0.018825834605,
            0.010908782243,
            0.004951936799,
            0.001253999376,
            4e-07,
        ];
        let s = Schedule::OneCycle {
            total: 20,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
        };
        for (step, want) in torch.iter().enumerate() {
            let got = s.rate(0.1, step as u64);
            assert!((got - want).abs() < 1e-11, "step {step}: {got} vs {want}");
        }
    }

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
