//! [`Conv1d`]: 1D convolution (cross-correlation) over time.

use std::fmt;

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use seq_core::{Error, Init, Mode, Module, Result, Seq};

use crate::fused::FusedConv1d;
use crate::padding::check_groups;
use crate::window::Window;
use crate::Padding;

/// The sizes and options of a [`Conv1d`]; PyTorch's `nn.Conv1d` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Conv1dConfig {
    /// Input channels `C_in` (features per step).
    pub in_channels: usize,
    /// Output channels `C_out` (filters).
    pub out_channels: usize,
    /// Taps per filter `K`.
    pub kernel_size: usize,
    /// Steps between outputs (default 1).
    pub stride: usize,
    /// Steps between taps (default 1).
    pub dilation: usize,
    /// Channel groups (default 1); each group of outputs reads its group of inputs.
    pub groups: usize,
    /// Padding of the time axis (default [`Padding::Valid`]).
    pub padding: Padding,
    /// Whether to add a bias (default true).
    pub bias: bool,
}

impl Conv1dConfig {
    /// `C_in -> C_out` with `K` taps, stride 1, no dilation, valid padding.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv1dConfig {
            in_channels,
            out_channels,
            kernel_size,
            stride: 1,
            dilation: 1,
            groups: 1,
            padding: Padding::Valid,
            bias: true,
        }
    }

    /// With a stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// With a dilation.
    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.dilation = dilation;
        self
    }

    /// With channel groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// With a padding.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// With or without the bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// 1D convolution over time, PyTorch's `nn.Conv1d` on seq's channels-last
/// layout: input `[batch, time, C_in]`, output `[batch, T_out, C_out]`.
///
/// Like every deep learning library's, it is a cross-correlation (the
/// kernel is not flipped). With `g` the group of output channel `o`, `s`
/// the stride, `d` the dilation and `x` the padded input:
///
/// ```text
/// y[b, t, o] = bias[o] + sum_{k < K} sum_{c < C_in/groups} weight[o, c, k] * x[b, s*t + d*k, g*C_in/groups + c]
/// T_out = floor((T + left + right - d*(K-1) - 1) / s) + 1
/// ```
///
/// Local receptive fields (`K` taps) and weights shared across time make it
/// equivariant to shifts of the input (at stride 1, away from the borders).
///
/// Parameters (PyTorch names and layout): `weight` `[C_out, C_in/groups, K]`,
/// `bias` `[C_out]`, both `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with `fan_in
/// = C_in/groups * K`, as PyTorch initialises them.
///
/// On the CPU (one group, f32 or f64) it runs as one custom op with its own
/// backward pass (see the `fused` module); elsewhere, and as the reference
/// the tests compare it with, as a composition of candle ops (taps gathered
/// from the padded input, one matrix product per group). candle 0.11.1's
/// own `conv1d` has a wrong weight gradient for batches larger than one.
///
/// Masks: padded input steps are zeroed first, so they never reach a real
/// output; the output mask keeps, for a sequence of `L` real steps, its first
/// `floor((L + left + right - d*(K-1) - 1) / s) + 1` outputs (every output
/// at stride 1 with `same` or `causal` padding).
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_conv::{Conv1d, Conv1dConfig, Padding};
/// use seq_core::{Mode, Module, Params, Seq};
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// // 4 channels in, 8 filters of 3 taps, every other step.
/// let config = Conv1dConfig::new(4, 8, 3).with_stride(2).with_padding(Padding::Same);
/// let conv = Conv1d::new(config, vb.pp("conv"))?;
/// let x = Tensor::randn(0f32, 1.0, (2, 10, 4), &Device::Cpu)?; // [batch, time, channels]
/// let xs = Seq::new(x)?.with_lengths(&[10, 6])?;
/// let ys = Module::forward(&conv, &xs, Mode::Eval)?;
/// assert_eq!(ys.values().dims(), &[2, 5, 8]); // ceil(10 / 2) steps
/// assert_eq!(ys.lengths()?, [5, 3]); // the mask follows the stride
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Conv1d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv1dConfig,
}

impl Conv1d {
    /// Creates (or loads) `weight` and `bias` under `vb`.
    pub fn new(config: Conv1dConfig, vb: VarBuilder) -> Result<Self> {
        let c = config;
        if c.in_channels == 0
            || c.out_channels == 0
            || c.kernel_size == 0
            || c.stride == 0
            || c.dilation == 0
        {
            return Err(Error::config(
                "Conv1d",
                format!("sizes must be positive, got {c:?}"),
            ));
        }
        check_groups("Conv1d", c.groups, c.in_channels, c.out_channels)?;
        let shape = (c.out_channels, c.in_channels / c.groups, c.kernel_size);
        let init =
            Init::torch_default(c.in_channels / c.groups * c.kernel_size).to_hint(&shape.into())?;
        let weight = vb.get_with_hints(shape, "weight", init)?;
        let bias = c
            .bias
            .then(|| vb.get_with_hints(c.out_channels, "bias", init))
            .transpose()?;
        Ok(Conv1d {
            weight,
            bias,
            config,
        })
    }

    /// The weight `[C_out, C_in/groups, K]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The configuration.
    pub fn config(&self) -> &Conv1dConfig {
        &self.config
    }

    /// The window for an input of `time` steps.
    fn window(&self, time: usize) -> Window {
        let c = &self.config;
        let mut w = Window {
            kernel: c.kernel_size,
            stride: c.stride,
            dilation: c.dilation,
            left: 0,
            right: 0,
        };
        (w.left, w.right) = c.padding.amounts(time, w.span(), c.stride);
        w
    }

    /// Convolves `x` `[batch, time, C_in]` (no mask).
    ///
    /// # Returns
    /// `[batch, T_out, C_out]`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let (_, t, ch) = x.dims3()?;
        if ch != c.in_channels {
            return Err(Error::shape(
                "Conv1d",
                "input",
                format!("[batch, time, {}]", c.in_channels),
                x.dims(),
            ));
        }
        let window = self.window(t);
        let out = window.checked_out_len("Conv1d", t)?;
        if c.groups == 1 && seq_core::cpu::supports(x) {
            return self.apply_fused(x, &window, out);
        }
        self.apply_composed(&window.pad(x, 0.0)?, &window, out)
    }

    /// The CPU path: one [`FusedConv1d`] op, which pads as it reads.
    fn apply_fused(&self, x: &Tensor, window: &Window, out: usize) -> Result<Tensor> {
        let c = &self.config;
        let (b, time, _) = x.dims3()?;
        let op = FusedConv1d {
            batch: b,
            time,
            left: window.left,
            out_len: out,
            in_channels: c.in_channels,
            out_channels: c.out_channels,
            kernel: c.kernel_size,
            stride: c.stride,
            dilation: c.dilation,
        };
        let bias = match &self.bias {
            Some(bias) => bias.clone(),
            None => Tensor::zeros(c.out_channels, x.dtype(), x.device())?,
        };
        let w = self.weight.contiguous()?;
        Ok(x.contiguous()?.apply_op3(&w, &bias, op)?) // [batch, out, C_out]
    }

    /// The reference path, composed of candle ops (and the path on GPUs and
    /// for grouped convolutions): the taps gathered, one product per group.
    fn apply_composed(&self, padded: &Tensor, window: &Window, out: usize) -> Result<Tensor> {
        let c = &self.config;
        let b = padded.dim(0)?;
        let taps = window.taps(padded, out)?; // K x [batch, out, C_in]
        let (cin_g, cout_g) = (c.in_channels / c.groups, c.out_channels / c.groups);
        let mut groups = Vec::with_capacity(c.groups);
        for g in 0..c.groups {
            let cols: Vec<Tensor> = taps
                .iter()
                .map(|tap| tap.narrow(2, g * cin_g, cin_g))
                .collect::<candle_core::Result<_>>()?;
            let cols = Tensor::cat(&cols, D::Minus1)?.reshape((b * out, c.kernel_size * cin_g))?; // [b*out, K*Cg], tap-major
            let w = self.weight.narrow(0, g * cout_g, cout_g)?; // [Og, Cg, K]
            let w = w
                .permute((0, 2, 1))?
                .contiguous()?
                .reshape((cout_g, c.kernel_size * cin_g))?; // [Og, K*Cg]
            groups.push(cols.matmul(&w.t()?)?); // [b*out, Og]
        }
        let y = if groups.len() == 1 {
            groups.remove(0)
        } else {
            Tensor::cat(&groups, D::Minus1)?
        };
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        Ok(y.reshape((b, out, c.out_channels))?)
    }
}

impl Module for Conv1d {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        xs.expect_features("Conv1d", self.config.in_channels)?;
        let x = match xs.mask() {
            Some(m) => xs.values().broadcast_mul(&m.unsqueeze(2)?)?, // padded steps read as zeros
            None => xs.values().clone(),
        };
        let y = self.apply(&x)?;
        let out = Seq::new(y)?;
        match self.window(xs.time()).out_mask(xs, out.time())? {
            Some(m) => out.with_mask(m),
            None => Ok(out),
        }
    }
}

impl fmt::Display for Conv1d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let params = self.weight.elem_count() + self.bias.as_ref().map_or(0, |b| b.elem_count());
        write!(
            f,
            "Conv1d({}, {}, kernel={}, stride={}, dilation={}, groups={}, padding={:?}; {params} params)",
            c.in_channels, c.out_channels, c.kernel_size, c.stride, c.dilation, c.groups, c.padding
        )
    }
}

#[cfg(feature = "serde")]
impl seq_core::pretrained::Pretrained for Conv1d {
    type Config = Conv1dConfig;
    const MODEL_TYPE: &'static str = "conv1d";

    fn build(config: &Conv1dConfig, vb: VarBuilder) -> Result<Self> {
        Conv1d::new(*config, vb)
    }

    fn pretrained_config(&self) -> Conv1dConfig {
        *self.config()
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};
    use seq_core::testing::{max_abs_diff, randn};
    use seq_core::Params;

    use super::*;

    /// The fused op and the composed reference: outputs and the gradients
    /// of input, weight and bias, in f64 (to 1e-12) and f32 (to 1e-4), for
    /// strides, dilations, paddings, no bias, batches of several blocks and
    /// output channels past a block of the AVX-512 tiles.
    #[test]
    fn fused_and_composed_paths_agree() {
        let cases = [
            (Conv1dConfig::new(3, 4, 3), 1, 9),
            (
                Conv1dConfig::new(5, 2, 2)
                    .with_stride(2)
                    .with_dilation(3)
                    .with_padding(Padding::Same),
                2,
                17,
            ),
            (
                Conv1dConfig::new(2, 6, 4)
                    .with_padding(Padding::Causal)
                    .with_bias(false),
                9,
                8,
            ),
            (
                Conv1dConfig::new(4, 3, 1)
                    .with_stride(3)
                    .with_padding(Padding::Explicit { left: 2, right: 1 }),
                5,
                7,
            ),
            // Wider layers: 70 outputs are a block of 64 and one of 6, 33
            // outputs one block of 48.
            (
                Conv1dConfig::new(20, 70, 3).with_padding(Padding::Same),
                3,
                11,
            ),
            (
                Conv1dConfig::new(9, 33, 5)
                    .with_stride(2)
                    .with_dilation(2)
                    .with_padding(Padding::Same),
                2,
                13,
            ),
        ];
        for (seed, (config, batch, time)) in cases.into_iter().enumerate() {
            for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-4)] {
                let p = Params::new(seed as u64);
                let conv = Conv1d::new(config, p.var_builder(dtype, &Device::Cpu)).unwrap();
                let x = randn(seed as u64 + 10, &[batch, time, config.in_channels]).unwrap();
                let x = Var::from_tensor(&x.to_dtype(dtype).unwrap()).unwrap();
                let window = conv.window(time);
                let out = window.out_len(time).unwrap();
                let r = randn(seed as u64 + 20, &[batch, out, config.out_channels]).unwrap();
                let r = r.to_dtype(dtype).unwrap();
                let mut results = Vec::new();
                for fused in [true, false] {
                    let y = match fused {
                        true => conv.apply_fused(x.as_tensor(), &window, out).unwrap(),
                        false => {
                            let padded = window.pad(x.as_tensor(), 0.0).unwrap();
                            conv.apply_composed(&padded, &window, out).unwrap()
                        }
                    };
                    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                    let mut got = vec![y, grads.get(x.as_tensor()).unwrap().clone()];
                    for (_, v) in p.named_vars() {
                        got.push(grads.get(v.as_tensor()).unwrap().clone());
                    }
                    results.push(got);
                }
                for (a, b) in results[0].iter().zip(&results[1]) {
                    let d = max_abs_diff(a, b).unwrap();
                    assert!(d < tol, "case {seed} {dtype:?}: {d:e}");
                }
            }
        }
    }
}
