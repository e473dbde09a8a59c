//! [`Window`]: the geometry of a sliding window over time, shared by
//! convolution and pooling: padding, output length, the inputs each output
//! reads, and the output mask.

use candle_core::{DType, Tensor};
use seq_core::{Error, Result, Seq};

/// A window of `kernel` taps `dilation` apart, moved `stride` steps at a
/// time over an input padded with `left` and `right` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub left: usize,
    pub right: usize,
}

impl Window {
    /// The steps one window covers: `dilation * (kernel - 1) + 1`.
    pub fn span(&self) -> usize {
        self.dilation * (self.kernel - 1) + 1
    }

    /// Outputs for `time` input steps: `floor((time + left + right - span) / stride) + 1`,
    /// or `None` when the padded input is shorter than one window.
    pub fn out_len(&self, time: usize) -> Option<usize> {
        let padded = time + self.left + self.right;
        (padded >= self.span()).then(|| (padded - self.span()) / self.stride + 1)
    }

    /// Like [`Window::out_len`], but an error for `layer` naming how much is missing.
    pub fn checked_out_len(&self, layer: &str, time: usize) -> Result<usize> {
        self.out_len(time).ok_or_else(|| {
            let padded = time + self.left + self.right;
            Error::config(
                layer,
                format!(
                    "the window spans {} steps (kernel {}, dilation {}) but the input has {time} steps \
                     and {} of padding: {} steps too short",
                    self.span(),
                    self.kernel,
                    self.dilation,
                    self.left + self.right,
                    self.span() - padded
                ),
            )
        })
    }

    /// `x` `[batch, time, channels]` with `left` and `right` steps of `fill` around it.
    pub fn pad(&self, x: &Tensor, fill: f64) -> Result<Tensor> {
        if self.left == 0 && self.right == 0 {
            return Ok(x.clone());
        }
        let (b, _, c) = x.dims3()?;
        let block = |n: usize| -> Result<Tensor> {
            Ok(Tensor::full(fill, (b, n, c), x.device())?.to_dtype(x.dtype())?)
        };
        let mut parts = Vec::with_capacity(3);
        if self.left > 0 {
            parts.push(block(self.left)?);
        }
        parts.push(x.clone());
        if self.right > 0 {
            parts.push(block(self.right)?);
        }
        Ok(Tensor::cat(&parts, 1)?)
    }

    /// The inputs of tap `k` for every output: `padded[:, k*dilation + j*stride, :]`
    /// for `j < out`, each `[batch, out, channels]`, one tensor per tap.
    pub fn taps(&self, padded: &Tensor, out: usize) -> Result<Vec<Tensor>> {
        (0..self.kernel)
            .map(|k| {
                let start = k * self.dilation;
                if self.stride == 1 {
                    return Ok(padded.narrow(1, start, out)?);
                }
                let index: Vec<u32> = (0..out).map(|j| (start + j * self.stride) as u32).collect();
                let index = Tensor::from_vec(index, out, padded.device())?;
                Ok(padded.index_select(&index, 1)?)
            })
            .collect()
    }

    /// The output's mask: with a sequence of `L` real steps (real steps
    /// first), its first `floor((L + left + right - span) / stride) + 1`
    /// outputs are real, those whose whole window lies on real steps or on
    /// the padding this layer adds. `None` when the input has no mask.
    pub fn out_mask(&self, xs: &Seq, out: usize) -> Result<Option<Tensor>> {
        if xs.mask().is_none() {
            return Ok(None);
        }
        let lengths: Vec<f32> = xs
            .lengths()?
            .into_iter()
            .map(|l| self.out_len(l).unwrap_or(0).min(out) as f32)
            .collect();
        let steps = Tensor::arange(0f32, out as f32, xs.values().device())?.unsqueeze(0)?; // [1, out]
        let lengths = Tensor::from_vec(lengths, (xs.batch(), 1), xs.values().device())?; // [batch, 1]
        Ok(Some(steps.broadcast_lt(&lengths)?.to_dtype(DType::F32)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lengths_follow_pytorch() {
        // PyTorch: L_out = floor((L + 2p - d(k-1) - 1) / s) + 1
        let w = Window {
            kernel: 3,
            stride: 2,
            dilation: 2,
            left: 1,
            right: 1,
        };
        assert_eq!(w.out_len(10), Some((10 + 2 - 4 - 1) / 2 + 1));
        let w = Window {
            kernel: 5,
            stride: 1,
            dilation: 2,
            left: 0,
            right: 0,
        };
        assert_eq!(w.out_len(8), None);
        let err = w.checked_out_len("Conv1d", 6).unwrap_err().to_string();
        assert!(
            err.contains("spans 9 steps") && err.contains("3 steps too short"),
            "{err}"
        );
    }
}
