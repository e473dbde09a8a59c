//! Fused scaled dot-product attention on the CPU: one candle op with an
//! explicit backward, FlashAttention-2's tiled recurrence in f32 and f64
//! ([`kernel`]). The composed path ([`scaled_dot_product_attention`]) is
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
//! Both return the heads merged, `[batch, T, heads * d_v]`, ready for the
//! output projection.
//!
//! [`scaled_dot_product_attention`]: crate::scaled_dot_product_attention

mod kernel;

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Storage, Tensor};
use seq_core::cpu::Float;
use seq_core::{Error, Result};

pub(crate) use kernel::DropMask;
use kernel::{Dims, Inputs, Masking, Strided};

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

/// Whether the fused op can run on these inputs: CPU, f32 or f64.
pub(crate) fn supports(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

struct Packed {
    heads: usize,
    spec: Spec,
    saved: Saved,
}

struct Separate {
    spec: Spec,
    saved: Saved,
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
        Ok(kernel::forward(&x))
    })?;
    *saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(T::to_cpu_storage_owned(fwd.stats));
    Ok((
        T::to_cpu_storage_owned(fwd.out),
        Shape::from((dims.b, dims.t, dims.h * dims.dv)),
    ))
}

/// Backward on typed tensors: `dq`, `dk`, `dv` token-major.
fn backward<T: Float>(
    spec: &Spec,
    dims: Dims,
    qkv: [(&Tensor, Strided); 3],
    (res, grad): (&Tensor, &Tensor),
    saved: &Saved,
) -> candle_core::Result<kernel::Grads<T>> {
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
        Ok(kernel::backward(
            &x,
            (slice::<T>(&o)?, ol),
            (slice::<T>(&g)?, gl),
            stats.as_slice::<T>()?,
        ))
    })
}

impl Packed {
    fn dims(&self, l: &Layout) -> candle_core::Result<Dims> {
        let (b, t, e3) = l.shape().dims3()?;
        let h = self.heads;
        if e3 % 3 != 0 || h == 0 || (e3 / 3) % h != 0 {
            candle_core::bail!(
                "fused attention: packed width {e3} is not 3 x heads x d ({h} heads)"
            )
        }
        let d = e3 / 3 / h;
        Ok(Dims {
            b,
            h,
            t,
            s: t,
            d,
            dv: d,
        })
    }

    fn views(&self, l: &Layout, dims: &Dims) -> candle_core::Result<[Strided; 3]> {
        let e = dims.h * dims.d;
        Ok([
            by_heads(l, dims.d, 0)?,
            by_heads(l, dims.d, e)?,
            by_heads(l, dims.d, 2 * e)?,
        ])
    }

    fn fwd_typed<T: Float>(
        &self,
        s: &CpuStorage,
        l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = self.dims(l)?;
        let x = s.as_slice::<T>()?;
        let [q, k, v] = self.views(l, &dims)?;
        forward(&self.spec, dims, [(x, q), (x, k), (x, v)], &self.saved)
    }

    fn bwd_typed<T: Float>(
        &self,
        arg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let dims = self.dims(arg.layout())?;
        let [q, k, v] = self.views(arg.layout(), &dims)?;
        let g = backward::<T>(
            &self.spec,
            dims,
            [(arg, q), (arg, k), (arg, v)],
            (res, grad),
            &self.saved,
        )?;
        // Interleave back into [batch, T, 3E]: each of dq, dk, dv is [batch, T, E].
        let (t, e) = (dims.t, dims.h * dims.d);
        let mut out = Vec::with_capacity(dims.b * t * 3 * e);
        for row in 0..dims.b * t {
            for part in [&g.dq, &g.dk, &g.dv] {
                out.extend_from_slice(&part[row * e..(row + 1) * e]);
            }
        }
        cpu_tensor(out, (dims.b, t, 3 * e))
    }
}

impl CustomOp1 for Packed {
    fn name(&self) -> &'static str {
        "fused-self-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        match s {
            CpuStorage::F32(_) => self.fwd_typed::<f32>(s, l),
            CpuStorage::F64(_) => self.fwd_typed::<f64>(s, l),
            _ => candle_core::bail!("fused attention: f32 or f64 only"),
        }
    }

    fn bwd(
        &self,
        arg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(match arg.dtype() {
            DType::F32 => self.bwd_typed::<f32>(arg, res, grad)?,
            DType::F64 => self.bwd_typed::<f64>(arg, res, grad)?,
            dt => candle_core::bail!("fused attention: f32 or f64 only, got {dt:?}"),
        }))
    }
}

impl Separate {
    fn dims(q: &Layout, k: &Layout, v: &Layout) -> candle_core::Result<Dims> {
        let (b, h, t, d) = q.shape().dims4()?;
        let (kb, kh, s, kd) = k.shape().dims4()?;
        let (vb, vh, vs, dv) = v.shape().dims4()?;
        if (kb, kh, kd) != (b, h, d) || (vb, vh, vs) != (b, h, s) {
            candle_core::bail!(
                "fused attention: q {:?}, k {:?}, v {:?} do not fit",
                q.dims(),
                k.dims(),
                v.dims()
            )
        }
        Ok(Dims { b, h, t, s, d, dv })
    }

    fn fwd_typed<T: Float>(
        &self,
        (s1, l1): (&CpuStorage, &Layout),
        (s2, l2): (&CpuStorage, &Layout),
        (s3, l3): (&CpuStorage, &Layout),
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = Self::dims(l1, l2, l3)?;
        forward(
            &self.spec,
            dims,
            [
                (s1.as_slice::<T>()?, strided4(l1)?),
                (s2.as_slice::<T>()?, strided4(l2)?),
                (s3.as_slice::<T>()?, strided4(l3)?),
            ],
            &self.saved,
        )
    }

    fn bwd_typed<T: Float>(
        &self,
        (q, k, v): (&Tensor, &Tensor, &Tensor),
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<[Tensor; 3]> {
        let dims = Self::dims(q.layout(), k.layout(), v.layout())?;
        let views = [q, k, v].map(|t| strided4(t.layout()).map(|at| (t, at)));
        let [qa, ka, va] = views;
        let g = backward::<T>(&self.spec, dims, [qa?, ka?, va?], (res, grad), &self.saved)?;
        let Dims { b, h, t, s, d, dv } = dims;
        // Token-major buffers seen as [batch, heads, L, width].
        Ok([
            cpu_tensor(g.dq, (b, t, h, d))?.transpose(1, 2)?,
            cpu_tensor(g.dk, (b, s, h, d))?.transpose(1, 2)?,
            cpu_tensor(g.dv, (b, s, h, dv))?.transpose(1, 2)?,
        ])
    }
}

impl CustomOp3 for Separate {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
                self.fwd_typed::<f32>((s1, l1), (s2, l2), (s3, l3))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
                self.fwd_typed::<f64>((s1, l1), (s2, l2), (s3, l3))
            }
            _ => candle_core::bail!("fused attention: f32 or f64 only, one dtype"),
        }
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let [dq, dk, dv] = match q.dtype() {
            DType::F32 => self.bwd_typed::<f32>((q, k, v), res, grad)?,
            DType::F64 => self.bwd_typed::<f64>((q, k, v), res, grad)?,
            dt => candle_core::bail!("fused attention: f32 or f64 only, got {dt:?}"),
        };
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// Checks a key padding mask `[batch, S]` and reads it as bytes.
pub(crate) fn key_bytes(mask: &Tensor, b: usize, s: usize) -> Result<Vec<u8>> {
    if mask.dims() != [b, s] {
        return Err(Error::shape(
            "attention",
            "key_padding_mask",
            format!("[{b}, {s}]"),
            mask.dims(),
        ));
    }
    Ok(mask.ne(0u8)?.flatten_all()?.to_vec1::<u8>()?)
}
