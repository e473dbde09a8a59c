//! The two candle ops over the kernels: [`Packed`] self-attention (one
//! input `[batch, T, 3E]`) and [`Separate`] queries, keys and values.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Tensor};
use seq_core::cpu::Float;

use super::kernel::{Dims, Strided};
use super::{backward, by_heads, cpu_tensor, forward, strided4, Saved, Spec};

pub(crate) struct Packed {
    pub heads: usize,
    pub spec: Spec,
    pub saved: Saved,
}

pub(crate) struct Separate {
    pub spec: Spec,
    pub saved: Saved,
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
        // The gradient is laid out as the input, [batch, T, 3E] contiguous.
        let shape = Shape::from((dims.b, dims.t, 3 * dims.h * dims.d));
        let mut dqkv = vec![T::zero(); shape.elem_count()];
        let at = self.views(&Layout::contiguous(&shape), &dims)?;
        let inputs = [(arg, q), (arg, k), (arg, v)];
        backward(
            &self.spec,
            dims,
            inputs,
            (res, grad),
            &self.saved,
            (&mut dqkv, at),
        )?;
        cpu_tensor(dqkv, shape)
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
        let Dims { b, h, t, s, d, dv } = dims;
        // dq, dk, dv token-major, one after the other in one buffer.
        let (nq, nk, nv) = (b * t * h * d, b * s * h * d, b * s * h * dv);
        let at = [
            Strided::token_major(t, h, d),
            Strided {
                at: nq,
                ..Strided::token_major(s, h, d)
            },
            Strided {
                at: nq + nk,
                ..Strided::token_major(s, h, dv)
            },
        ];
        let mut buf = vec![T::zero(); nq + nk + nv];
        let inputs = [qa?, ka?, va?];
        backward(
            &self.spec,
            dims,
            inputs,
            (res, grad),
            &self.saved,
            (&mut buf, at),
        )?;
        let all = cpu_tensor(buf, nq + nk + nv)?;
        // Each seen as [batch, heads, L, width].
        Ok([
            all.narrow(0, 0, nq)?
                .reshape((b, t, h, d))?
                .transpose(1, 2)?,
            all.narrow(0, nq, nk)?
                .reshape((b, s, h, d))?
                .transpose(1, 2)?,
            all.narrow(0, nq + nk, nv)?
                .reshape((b, s, h, dv))?
                .transpose(1, 2)?,
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
