//! [`Padding`]: how a convolution or pooling layer pads the time axis.

use seq_core::{Error, Result};

/// How many steps to add before and after the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Padding {
    /// None: the output is `span - 1` steps shorter (`dilation * (kernel - 1)`).
    #[default]
    Valid,
    /// As many as keep the length at stride 1 (`ceil(time / stride)` outputs),
    /// split evenly with the odd step after, as Keras and PyTorch's `'same'`.
    Same,
    /// All `dilation * (kernel - 1)` steps before: output `t` sees only
    /// inputs at or before `t` (WaveNet).
    Causal,
    /// Explicit steps before and after.
    Explicit {
        /// Steps before.
        left: usize,
        /// Steps after.
        right: usize,
    },
}

impl Padding {
    /// `(left, right)` for an input of `time` steps and a window of `span`
    /// steps moved by `stride`.
    pub(crate) fn amounts(self, time: usize, span: usize, stride: usize) -> (usize, usize) {
        match self {
            Padding::Valid => (0, 0),
            Padding::Causal => (span - 1, 0),
            Padding::Explicit { left, right } => (left, right),
            Padding::Same => {
                let out = time.div_ceil(stride);
                let total = ((out.max(1) - 1) * stride + span).saturating_sub(time);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// Checks that `groups` divides both channel counts.
pub(crate) fn check_groups(
    layer: &str,
    groups: usize,
    in_channels: usize,
    out_channels: usize,
) -> Result<()> {
    if groups == 0 {
        return Err(Error::config(layer, "groups must be at least 1"));
    }
    for (what, n) in [("in_channels", in_channels), ("out_channels", out_channels)] {
        if n % groups != 0 {
            return Err(Error::config(
                layer,
                format!(
                    "groups {groups} does not divide {what} {n} ({n} = {} * {groups} + {})",
                    n / groups,
                    n % groups
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_keeps_the_length_and_causal_looks_back() {
        // span 5 (kernel 3, dilation 2), stride 1: 4 steps, 2 each side.
        assert_eq!(Padding::Same.amounts(10, 5, 1), (2, 2));
        // span 4: 3 steps, the odd one after.
        assert_eq!(Padding::Same.amounts(10, 4, 1), (1, 2));
        assert_eq!(Padding::Causal.amounts(10, 5, 1), (4, 0));
        // stride 2 over 10 steps: 5 outputs need (5-1)*2 + 3 = 11 steps.
        assert_eq!(Padding::Same.amounts(10, 3, 2), (0, 1));
    }

    #[test]
    fn groups_must_divide_both_channel_counts() {
        assert!(check_groups("Conv1d", 2, 8, 4).is_ok());
        let err = check_groups("Conv1d", 3, 8, 6).unwrap_err().to_string();
        assert_eq!(
            err,
            "Conv1d: groups 3 does not divide in_channels 8 (8 = 2 * 3 + 2)"
        );
    }
}
