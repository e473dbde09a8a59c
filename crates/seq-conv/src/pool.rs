//! Pooling over time: [`MaxPool1d`], [`AvgPool1d`] (sliding windows, any
//! kernel and stride, overlapping windows allowed) and [`GlobalMaxPool1d`],
//! [`GlobalAvgPool1d`] (one vector per sequence).
//!
//! candle has no 1D pooling, and its 2D pooling backward fails unless
//! kernel == stride; these are compositions of window gathers and
//! reductions, differentiable for any geometry (overlapping windows add
//! their gradients).

use std::fmt;

use candle_core::Tensor;
use seq_core::{pool, Error, Mode, Module, Result, Seq};

use crate::window::Window;

/// The geometry of a pooling window; PyTorch's `nn.MaxPool1d` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pool1dConfig {
    /// Steps per window.
    pub kernel_size: usize,
    /// Steps between windows (default: the kernel size).
    pub stride: usize,
    /// Steps added on each side (default 0; at most half the kernel, as in PyTorch).
    pub padding: usize,
    /// Average pooling only: count padded steps in the mean (default true, PyTorch's).
    pub count_include_pad: bool,
}

impl Pool1dConfig {
    /// Non-overlapping windows of `kernel_size` steps.
    pub fn new(kernel_size: usize) -> Self {
        Pool1dConfig {
            kernel_size,
            stride: kernel_size,
            padding: 0,
            count_include_pad: true,
        }
    }

    /// With a stride (smaller than the kernel: overlapping windows).
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// With padding on both sides.
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Whether padded steps count in an average.
    pub fn with_count_include_pad(mut self, yes: bool) -> Self {
        self.count_include_pad = yes;
        self
    }

    fn window(&self, layer: &str) -> Result<Window> {
        let c = self;
        if c.kernel_size == 0 || c.stride == 0 {
            return Err(Error::config(
                layer,
                format!("kernel and stride must be positive, got {c:?}"),
            ));
        }
        if 2 * c.padding > c.kernel_size {
            return Err(Error::config(
                layer,
                format!(
                    "padding {} is more than half the kernel {}",
                    c.padding, c.kernel_size
                ),
            ));
        }
        Ok(Window {
            kernel: c.kernel_size,
            stride: c.stride,
            dilation: 1,
            left: c.padding,
            right: c.padding,
        })
    }
}

/// Gathers every window: `[batch, out, kernel, channels]`.
fn windows(layer: &str, window: &Window, x: &Tensor, fill: f64) -> Result<Tensor> {
    let (_, t, _) = x.dims3()?;
    let out = window.checked_out_len(layer, t)?;
    let taps = window.taps(&window.pad(x, fill)?, out)?;
    Ok(Tensor::stack(&taps, 2)?)
}

/// The maximum of each window, PyTorch's `nn.MaxPool1d` (padding counts as
/// minus infinity). Masked steps are never chosen; the output mask follows
/// the rule of [`Conv1d`](crate::Conv1d).
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{Device, Tensor};
/// use seq_conv::{MaxPool1d, Pool1dConfig};
///
/// let pool = MaxPool1d::new(Pool1dConfig::new(2))?; // stride = kernel by default
/// let x = Tensor::new(&[[[1f32], [3.], [2.], [0.], [5.]]], &Device::Cpu)?; // [1, 5, 1]
/// let y = pool.apply(&x)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [3., 2.]); // the odd last step is dropped
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MaxPool1d {
    config: Pool1dConfig,
    window: Window,
}

impl MaxPool1d {
    /// A max pooling layer.
    pub fn new(config: Pool1dConfig) -> Result<Self> {
        Ok(MaxPool1d {
            window: config.window("MaxPool1d")?,
            config,
        })
    }

    /// Pools `x` `[batch, time, channels]` to `[batch, out, channels]`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(windows("MaxPool1d", &self.window, x, f64::NEG_INFINITY)?.max(2)?)
    }
}

impl Module for MaxPool1d {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        let x = match xs.mask() {
            Some(m) => {
                let real = m
                    .ne(0f64)?
                    .unsqueeze(2)?
                    .broadcast_as(xs.values().shape())?;
                let lowest =
                    Tensor::full(f64::NEG_INFINITY, xs.values().shape(), xs.values().device())?
                        .to_dtype(xs.values().dtype())?;
                real.where_cond(xs.values(), &lowest)?
            }
            None => xs.values().clone(),
        };
        let y = self.apply(&x)?;
        // A window of padding alone is -inf: read it as 0.
        let y = y.eq(f64::NEG_INFINITY)?.where_cond(&y.zeros_like()?, &y)?;
        with_mask(Seq::new(y)?, &self.window, xs)
    }
}

/// The mean of each window, PyTorch's `nn.AvgPool1d`. Masked steps count
/// as zeros; the output mask follows the rule of [`Conv1d`](crate::Conv1d).
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{Device, Tensor};
/// use seq_conv::{AvgPool1d, Pool1dConfig};
///
/// let pool = AvgPool1d::new(Pool1dConfig::new(3).with_stride(1))?;
/// let x = Tensor::new(&[[[1f32], [2.], [3.], [4.]]], &Device::Cpu)?; // [1, 4, 1]
/// assert_eq!(pool.apply(&x)?.flatten_all()?.to_vec1::<f32>()?, [2., 3.]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AvgPool1d {
    config: Pool1dConfig,
    window: Window,
}

impl AvgPool1d {
    /// An average pooling layer.
    pub fn new(config: Pool1dConfig) -> Result<Self> {
        Ok(AvgPool1d {
            window: config.window("AvgPool1d")?,
            config,
        })
    }

    /// Pools `x` `[batch, time, channels]` to `[batch, out, channels]`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let w = windows("AvgPool1d", &self.window, x, 0.0)?; // [batch, out, kernel, channels]
        if self.config.count_include_pad || self.config.padding == 0 {
            return Ok(w.mean(2)?);
        }
        // Divide by the real (unpadded) steps of each window.
        let (_, t, _) = x.dims3()?;
        let out = w.dims()[1];
        let counts: Vec<f64> = (0..out)
            .map(|j| {
                let start = (j * self.window.stride) as isize - self.window.left as isize;
                let end = start + self.window.kernel as isize;
                (end.min(t as isize) - start.max(0)) as f64
            })
            .collect();
        let counts = Tensor::from_vec(counts, (1, out, 1), x.device())?.to_dtype(x.dtype())?;
        Ok(w.sum(2)?.broadcast_div(&counts)?)
    }
}

impl Module for AvgPool1d {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        let x = match xs.mask() {
            Some(m) => xs.values().broadcast_mul(&m.unsqueeze(2)?)?,
            None => xs.values().clone(),
        };
        with_mask(Seq::new(self.apply(&x)?)?, &self.window, xs)
    }
}

fn with_mask(out: Seq, window: &Window, xs: &Seq) -> Result<Seq> {
    match window.out_mask(xs, out.time())? {
        Some(m) => out.with_mask(m),
        None => Ok(out),
    }
}

/// The maximum over all real steps: `[batch, time, C]` to `[batch, 1, C]`.
///
/// ```
/// # fn main() -> seq_core::Result<()> {
/// use candle_core::{Device, Tensor};
/// use seq_conv::GlobalMaxPool1d;
/// use seq_core::{Mode, Module, Seq};
///
/// let x = Tensor::new(&[[[1f32], [7.], [2.]], [[4.], [0.], [9.]]], &Device::Cpu)?;
/// // The second sequence has 2 real steps: its padded 9 is never the maximum.
/// let xs = Seq::new(x)?.with_lengths(&[3, 2])?;
/// let y = GlobalMaxPool1d.forward(&xs, Mode::Eval)?;
/// assert_eq!(y.values().flatten_all()?.to_vec1::<f32>()?, [7., 4.]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalMaxPool1d;

impl Module for GlobalMaxPool1d {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        at_least_one_step("GlobalMaxPool1d", xs)?;
        Seq::new(pool::max_over_time(xs.values(), xs.mask())?.unsqueeze(1)?)
    }
}

/// The mean over all real steps: `[batch, time, C]` to `[batch, 1, C]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalAvgPool1d;

impl Module for GlobalAvgPool1d {
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        at_least_one_step("GlobalAvgPool1d", xs)?;
        Seq::new(pool::mean_over_time(xs.values(), xs.mask())?.unsqueeze(1)?)
    }
}

macro_rules! display {
    ($($t:ident),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let c = &self.config;
                write!(f, "{}(kernel={}, stride={}, padding={})", stringify!($t), c.kernel_size, c.stride, c.padding)
            }
        }
    )*};
}
display!(MaxPool1d, AvgPool1d);

impl fmt::Display for GlobalMaxPool1d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GlobalMaxPool1d")
    }
}

impl fmt::Display for GlobalAvgPool1d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GlobalAvgPool1d")
    }
}

/// A global pool of zero steps has no value: an error naming `layer`.
fn at_least_one_step(layer: &str, xs: &Seq) -> Result<()> {
    match xs.time() {
        0 => Err(seq_core::Error::shape(
            layer,
            "input",
            "[batch, time >= 1, features]",
            xs.values().dims(),
        )),
        _ => Ok(()),
    }
}
