//! Fused scaled dot-product attention on the CPU: one candle op with an
//! explicit backward, FlashAttention-2's tiled recurrence in f32 and f64
//! ([`forward`], [`backward`]). The composed path ([`scaled_dot_product_attention`]) is
//! the reference it is tested against.
//!
//! Two entry points share the kernel:
//! - [`packed`]: self-attention over one packed projection `[batch, T, 3E]`
//!   (queries, keys and values side by side, PyTorch's `in_proj`), read in
//!   place; its gradient is one `[batch, T, 3E]` tensor.
//! - [`separate`]: queries `[batch, heads, T, d]`, keys and values `[batch,
//!   heads, S, d]` as any strided views (heads split by a reshape and a
//!   transpose, never copied); gradients come back as transposed views of
//!   token-major buffers, so the head split's backward copies nothing.
//!
//! [`ops`] holds the two candle ops; this file the glue they share.
//!
//! Both return the heads merged, `[batch, T, heads * d_v]`, ready for the
//! output projection.
//!
//! [`scaled_dot_product_attention`]: crate::scaled_dot_product_attention

mod backward;
mod forward;
mod kernel;
mod masking;
mod ops;

use std::sync::Mutex;

use candle_core::{CpuStorage, Layout, Shape, Storage, Tensor};
use seq_core::cpu::Float;
use seq_core::Result;

use kernel::{Dims, Inputs, Strided};
pub(crate) use masking::DropMask;
use masking::Masking;
use ops::{Packed, Separate};

/// Everything but the inputs that decides the result: scale and masks.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub scale: f64,
    /// Causal with this offset: query `i` sees keys `j <= i + offset`.
    pub causal: Option<usize>,
    /// Key padding `[batch, S]`, 0 for a padded key.
    pub keys: Option<Vec<u8>>,
    /// An additive bias `[batch or 1, heads or 1, T, S]`, contiguous, in the
    /// inputs' dtype; constant (no gradient flows to it).
    pub bias: Option<Tensor>,
    pub dropout: Option<DropMask>,
}

/// The row statistics of the last forward pass, for its backward.
type Saved = Mutex<Option<CpuStorage>>;

/// Self-attention of `heads` heads over `qkv` `[batch, T, 3E]`.
pub(crate) fn packed(qkv: &Tensor, heads: usize, spec: Spec) -> Result<Tensor> {
    let op = Packed {
        heads,
        spec,
        saved: Mutex::new(None),
    };
    Ok(qkv.apply_op1(op)?)
}

/// Attention of `q` `[batch, heads, T, d]` over `k` `[batch, heads, S, d]`
/// and `v` `[batch, heads, S, d_v]`.
pub(crate) fn separate(q: &Tensor, k: &Tensor, v: &Tensor, spec: Spec) -> Result<Tensor> {
    let op = Separate {
        spec,
        saved: Mutex::new(None),
    };
    Ok(q.apply_op3(k, v, op)?)
}

/// The `[batch, heads, L, W]` view of a 4-d layout.
fn strided4(l: &Layout) -> candle_core::Result<Strided> {
    match l.stride() {
        &[sb, sh, sl, sw] => Ok(Strided {
            at: l.start_offset(),
            sb,
            sh,
            sl,
            sw,
        }),
        _ => candle_core::bail!("fused attention: expected a 4-d tensor, got {:?}", l.dims()),
    }
}

/// The `[batch, heads, L, width]` view of a 3-d token-major layout
/// `[batch, L, heads * width]`, from column `col`.
fn by_heads(l: &Layout, width: usize, col: usize) -> candle_core::Result<Strided> {
    match l.stride() {
        &[sb, sl, sc] => Ok(Strided {
            at: l.start_offset() + col * sc,
            sb,
            sh: width * sc,
            sl,
            sw: sc,
        }),
        _ => candle_core::bail!("fused attention: expected a 3-d tensor, got {:?}", l.dims()),
    }
}

fn cpu_tensor<T: Float>(data: Vec<T>, shape: impl Into<Shape>) -> candle_core::Result<Tensor> {
    Tensor::from_vec(data, shape, &candle_core::Device::Cpu)
}

/// The whole of a CPU storage (the kernels index it through [`Strided`]
/// views, offsets included).
fn slice<T: Float>(s: &Storage) -> candle_core::Result<&[T]> {
    match s {
        Storage::Cpu(c) => c.as_slice::<T>(),
        _ => candle_core::bail!("fused attention: CPU tensors only"),
    }
}

impl Spec {
    /// The kernel's view of the masks; `bias` is the bias tensor's storage.
    fn masking<'a, T: Float>(
        &'a self,
        dims: &Dims,
        bias: Option<&'a Storage>,
    ) -> candle_core::Result<Masking<'a, T>> {
        let bias = match (&self.bias, bias) {
            (Some(t), Some(s)) => {
                let (b0, h0) = (t.dims()[0], t.dims()[1]);
                let layout = Strided {
                    at: t.layout().start_offset(),
                    sb: if b0 == 1 { 0 } else { h0 * dims.t * dims.s },
                    sh: if h0 == 1 { 0 } else { dims.t * dims.s },
                    sl: dims.s,
                    sw: 1,
                };
                Some((slice::<T>(s)?, layout))
            }
            _ => None,
        };
        Ok(Masking {
            scale: T::of(self.scale),
            neg: T::of(crate::mask::neg_large(T::DTYPE)),
            causal: self.causal,
            keys: self.keys.as_deref(),
            bias,
            dropout: self.dropout,
        })
    }

    /// Runs `f` with the bias tensor's storage (if any) read-locked.
    fn with_bias<R>(&self, f: impl FnOnce(Option<&Storage>) -> R) -> R {
        match &self.bias {
            Some(t) => {
                let (s, _) = t.storage_and_layout();
                f(Some(&s))
            }
            None => f(None),
        }
    }
}

/// Forward on typed slices: the merged output `[batch, T, heads * dv]`;
/// the row statistics go to `saved`.
fn forward<T: Float>(
    spec: &Spec,
    dims: Dims,
    [q, k, v]: [(&[T], Strided); 3],
    saved: &Saved,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let fwd = spec.with_bias(|bias| -> candle_core::Result<_> {
        let x = Inputs {
            dims,
            q,
            k,
            v,
            masking: spec.masking::<T>(&dims, bias)?,
        };
        Ok(forward::forward(&x))
    })?;
    *saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(T::to_cpu_storage_owned(fwd.stats));
    Ok((
        T::to_cpu_storage_owned(fwd.out),
        Shape::from((dims.b, dims.t, dims.h * dims.dv)),
    ))
}

/// Backward on typed tensors: the gradients of `qkv` written into `dst`
/// where the layouts `at` put them.
fn backward<T: Float>(
    spec: &Spec,
    dims: Dims,
    qkv: [(&Tensor, Strided); 3],
    (res, grad): (&Tensor, &Tensor),
    saved: &Saved,
    dst: (&mut [T], [Strided; 3]),
) -> candle_core::Result<()> {
    let stats = saved.lock().unwrap_or_else(|e| e.into_inner());
    let Some(stats) = stats.as_ref() else {
        candle_core::bail!("fused attention: backward before forward")
    };
    let [q, k, v] = qkv.map(|(t, at)| (t.storage_and_layout().0, at));
    let (o, ol) = res.storage_and_layout();
    let (g, gl) = grad.storage_and_layout();
    let (ol, gl) = (by_heads(ol, dims.dv, 0)?, by_heads(gl, dims.dv, 0)?);
    spec.with_bias(|bias| {
        let x = Inputs {
            dims,
            q: (slice::<T>(&q.0)?, q.1),
            k: (slice::<T>(&k.0)?, k.1),
            v: (slice::<T>(&v.0)?, v.1),
            masking: spec.masking::<T>(&dims, bias)?,
        };
        backward::backward(
            &x,
            (slice::<T>(&o)?, ol),
            (slice::<T>(&g)?, gl),
            stats.as_slice::<T>()?,
            dst,
        );
        Ok(())
    })
}
