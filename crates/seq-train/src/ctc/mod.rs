//! Connectionist temporal classification (Graves et al., 2006): a loss for
//! many-to-many tasks whose output is shorter than the input and not
//! aligned with it (speech to text, handwriting), and the decoders that
//! turn its per-step distributions into label sequences.
//!
//! A CTC model emits, at every input step, a distribution over the labels
//! plus a *blank*. A path (one class per step) reads as a label sequence
//! by merging repeated classes, then dropping blanks: `a a - b - - b`
//! reads `a b b`. The loss is `-log p(l | x)`, the probability of every
//! path that reads `l` summed by the forward-backward recursion.
//!
//! - [`CtcLoss`]: PyTorch's `nn.CTCLoss` (blank, reduction,
//!   `zero_infinity`), batch-first, with its own backward.
//! - [`greedy`] and [`beam`]: best-path and prefix beam search decoding.

mod decode;
mod lattice;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use seq_core::cpu::storage_slice;
use seq_core::{Error, Result};

pub use decode::{beam, greedy};

use lattice::{extend, Sequence};

/// How [`CtcLoss`] combines the losses of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Each sequence's loss divided by its label length (at least 1), then
    /// the mean over the batch: PyTorch's default.
    #[default]
    Mean,
    /// The sum over the batch.
    Sum,
    /// One loss per sequence, `[batch]`.
    None,
}

/// The CTC loss, PyTorch's `nn.CTCLoss(blank, reduction, zero_infinity)`
/// with batch-first input:
///
/// ```text
/// loss_b = -log sum_{paths pi reading l_b} prod_t p_t(pi_t)      over the first len_b steps
/// ```
///
/// A label sequence that no path of the input's length can read (longer
/// than the input, counting a blank between repeated labels) has loss
/// `+inf` and a zero gradient, as in PyTorch; with `zero_infinity` its
/// loss is 0 instead. Runs on the CPU, in f32 or f64 (the recursion itself
/// in f64).
///
/// ```
/// use candle_core::{Device, Tensor, D};
/// use seq_train::ctc::CtcLoss;
/// # fn main() -> seq_core::Result<()> {
/// // [batch 1, time 4, classes 3]: blank 0 and the labels 1 and 2.
/// let logits = Tensor::zeros((1, 4, 3), candle_core::DType::F64, &Device::Cpu)?;
/// let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
/// let loss = CtcLoss::new().loss(&log_probs, &[4], &[vec![1u32, 2]])?;
/// // Uniform output: 15 of the 81 paths read "1 2" (-, 1, 2 as runs of
/// // 1 or more steps for the labels and 0 or more for the blanks); the
/// // mean divides by the 2 labels.
/// let expected = -(15.0f64 / 81.0).ln() / 2.0;
/// assert!((loss.to_scalar::<f64>()? - expected).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtcLoss {
    /// The blank class (default 0).
    pub blank: u32,
    /// How the batch's losses combine (default [`Reduction::Mean`]).
    pub reduction: Reduction,
    /// Replace infinite losses (and their gradients) by zero (default false).
    pub zero_infinity: bool,
}

impl CtcLoss {
    /// Blank 0, mean reduction, infinite losses kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// The blank class.
    pub fn with_blank(mut self, blank: u32) -> Self {
        self.blank = blank;
        self
    }

    /// How the batch's losses combine.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Whether infinite losses become zero.
    pub fn with_zero_infinity(mut self, zero_infinity: bool) -> Self {
        self.zero_infinity = zero_infinity;
        self
    }

    /// The loss of `targets` under `log_probs`.
    ///
    /// # Parameters
    /// - `log_probs` `[batch, time, classes]`: log probabilities per step
    ///   (a log-softmax over the classes, blank included). PyTorch's are
    ///   `[time, batch, classes]`.
    /// - `input_lengths`: the real steps of each sequence (at most `time`).
    /// - `targets`: each sequence's labels, class ids other than the blank.
    ///
    /// Returns a scalar, or `[batch]` with [`Reduction::None`].
    pub fn loss<L: AsRef<[u32]>>(
        &self,
        log_probs: &Tensor,
        input_lengths: &[usize],
        targets: &[L],
    ) -> Result<Tensor> {
        let op = self.op(log_probs, input_lengths, targets)?;
        let per_sequence = log_probs.apply_op1(op)?; // [batch]
        Ok(match self.reduction {
            Reduction::None => per_sequence,
            Reduction::Sum => per_sequence.sum_all()?,
            Reduction::Mean => {
                let labels: Vec<f64> = targets
                    .iter()
                    .map(|l| l.as_ref().len().max(1) as f64)
                    .collect();
                let labels =
                    Tensor::new(labels, log_probs.device())?.to_dtype(log_probs.dtype())?;
                (per_sequence / labels)?.mean_all()?
            }
        })
    }

    /// Checks the inputs against each other and builds the op.
    fn op<L: AsRef<[u32]>>(
        &self,
        log_probs: &Tensor,
        input_lengths: &[usize],
        targets: &[L],
    ) -> Result<CtcOp> {
        const LAYER: &str = "ctc_loss";
        let &[batch, time, classes] = log_probs.dims() else {
            return Err(Error::shape(
                LAYER,
                "log_probs",
                "[batch, time, classes]",
                log_probs.dims(),
            ));
        };
        if !matches!(log_probs.dtype(), DType::F32 | DType::F64) {
            return Err(Error::DType {
                op: LAYER.into(),
                expected: "f32 or f64".into(),
                actual: log_probs.dtype(),
            });
        }
        if !log_probs.device().is_cpu() {
            return Err(Error::config(LAYER, "runs on the CPU only"));
        }
        if input_lengths.len() != batch || targets.len() != batch {
            return Err(Error::config(
                LAYER,
                format!(
                    "{batch} sequences in log_probs, {} input lengths, {} targets",
                    input_lengths.len(),
                    targets.len()
                ),
            ));
        }
        if self.blank as usize >= classes {
            return Err(Error::config(
                LAYER,
                format!("blank {} is not one of the {classes} classes", self.blank),
            ));
        }
        for (b, (&len, labels)) in input_lengths.iter().zip(targets).enumerate() {
            if len > time {
                return Err(Error::config(
                    LAYER,
                    format!("sequence {b}: input length {len} is longer than the {time} steps"),
                ));
            }
            if let Some(&l) = labels
                .as_ref()
                .iter()
                .find(|&&l| l == self.blank || l as usize >= classes)
            {
                return Err(Error::config(
                    LAYER,
                    format!(
                        "sequence {b}: label {l} is the blank or not one of the {classes} classes"
                    ),
                ));
            }
        }
        Ok(CtcOp {
            zero_infinity: self.zero_infinity,
            lengths: input_lengths.to_vec(),
            labels: targets
                .iter()
                .map(|l| extend(l.as_ref(), self.blank))
                .collect(),
        })
    }
}

/// The op over `log_probs [batch, time, classes]`: per-sequence losses
/// `[batch]` forward, their gradient backward.
struct CtcOp {
    zero_infinity: bool,
    lengths: Vec<usize>,
    /// Extended labels, one per sequence.
    labels: Vec<Vec<u32>>,
}

impl CtcOp {
    /// Sequence `b` of `lp` (`[batch, time, classes]`, contiguous).
    fn sequence<'a, T>(&'a self, lp: &'a [T], b: usize, shape: &[usize]) -> Sequence<'a, T> {
        let (time, classes) = (shape[1], shape[2]);
        Sequence {
            lp: &lp[b * time * classes..(b + 1) * time * classes],
            classes,
            len: self.lengths[b],
            ext: &self.labels[b],
        }
    }

    fn nll(&self, seq: &Sequence<'_, impl Copy + Into<f64>>) -> f64 {
        let nll = seq.nll(&seq.alpha());
        if self.zero_infinity && nll.is_infinite() {
            0.0
        } else {
            nll
        }
    }

    fn forward<T: seq_core::cpu::Float + Into<f64>>(&self, lp: &[T], shape: &[usize]) -> Vec<T> {
        (0..shape[0])
            .map(|b| T::of(self.nll(&self.sequence(lp, b, shape))))
            .collect()
    }

    fn backward<T: seq_core::cpu::Float + Into<f64>>(
        &self,
        lp: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let shape = lp.dims().to_vec();
        let scales = grad.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let (storage, layout) = lp.storage_and_layout();
        let slice = storage_slice::<T>(&storage, layout)?;
        let mut out = Vec::with_capacity(lp.elem_count());
        for (b, &scale) in scales.iter().enumerate() {
            let (_, grad) = self
                .sequence(slice, b, &shape)
                .nll_and_grad(scale, shape[1]);
            out.extend(grad.into_iter().map(T::of));
        }
        Tensor::from_vec(out, shape, lp.device())
    }
}

impl CustomOp1 for CtcOp {
    fn name(&self) -> &'static str {
        "ctc-loss"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = l.shape().dims();
        let out = match s {
            CpuStorage::F32(x) => {
                CpuStorage::F32(self.forward(seq_core::cpu::contiguous(x, l)?, shape))
            }
            CpuStorage::F64(x) => {
                CpuStorage::F64(self.forward(seq_core::cpu::contiguous(x, l)?, shape))
            }
            _ => candle_core::bail!("ctc loss: f32 or f64 only"),
        };
        Ok((out, Shape::from(shape[0])))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let arg = arg.contiguous()?;
        Ok(Some(match arg.dtype() {
            DType::F32 => self.backward::<f32>(&arg, grad_res)?,
            DType::F64 => self.backward::<f64>(&arg, grad_res)?,
            dt => candle_core::bail!("ctc loss: f32 or f64 only, got {dt:?}"),
        }))
    }
}
