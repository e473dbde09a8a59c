//! `max(x, 0)` on the CPU as one custom op whose backward pass is one pass
//! too: candle's own `relu` differentiates through four tensor ops (a zero
//! tensor, a comparison, a cast, a product), each allocating a tensor of
//! the input's size.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor, WithDType};

use crate::cpu::contiguous;

/// The op. Its derivative is PyTorch's: 1 where `x > 0`, else 0.
pub(crate) struct Relu;

fn forward<T: WithDType>(x: &[T]) -> Vec<T> {
    x.iter()
        .map(|&v| if v > T::zero() { v } else { T::zero() })
        .collect()
}

fn backward<T: WithDType>(y: &[T], dy: &[T]) -> Vec<T> {
    y.iter()
        .zip(dy)
        .map(|(&y, &g)| if y > T::zero() { g } else { T::zero() })
        .collect()
}

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = match s {
            CpuStorage::F32(x) => CpuStorage::F32(forward(contiguous(x, l)?)),
            CpuStorage::F64(x) => CpuStorage::F64(forward(contiguous(x, l)?)),
            _ => candle_core::bail!("relu: f32 or f64 only"),
        };
        Ok((y, l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dy = dy.contiguous()?;
        let (ys, yl) = y.storage_and_layout();
        let (gs, gl) = dy.storage_and_layout();
        let dx = match (&*ys, &*gs) {
            (Storage::Cpu(CpuStorage::F32(y)), Storage::Cpu(CpuStorage::F32(g))) => {
                CpuStorage::F32(backward(contiguous(y, yl)?, contiguous(g, gl)?))
            }
            (Storage::Cpu(CpuStorage::F64(y)), Storage::Cpu(CpuStorage::F64(g))) => {
                CpuStorage::F64(backward(contiguous(y, yl)?, contiguous(g, gl)?))
            }
            _ => candle_core::bail!("relu: f32 or f64 CPU tensors only"),
        };
        let dx = match dx {
            CpuStorage::F32(v) => Tensor::from_vec(v, y.shape(), y.device())?,
            CpuStorage::F64(v) => Tensor::from_vec(v, y.shape(), y.device())?,
            _ => unreachable!("built above as f32 or f64"),
        };
        Ok(Some(dx))
    }
}

/// `max(x, 0)`: the op above for contiguous f32/f64 CPU tensors, candle's
/// `relu` otherwise.
pub(crate) fn relu(x: &Tensor) -> candle_core::Result<Tensor> {
    match crate::cpu::supports(x) {
        true => x.contiguous()?.apply_op1(Relu),
        false => x.relu(),
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    /// Values and gradient against candle's composed `relu` (away from 0,
    /// where the two conventions differ).
    #[test]
    fn relu_and_its_gradient_match_candles() {
        let x = Var::new(&[[-1.5f64, 0.25, 3.0], [2.0, -0.5, -4.0]], &Device::Cpu).unwrap();
        let r =
            candle_core::Tensor::new(&[[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]], &Device::Cpu).unwrap();
        let ours = super::relu(x.as_tensor()).unwrap();
        let theirs = x.as_tensor().relu().unwrap();
        assert_eq!(
            ours.to_vec2::<f64>().unwrap(),
            theirs.to_vec2::<f64>().unwrap()
        );
        let g = |y: &candle_core::Tensor| {
            let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            grads.get(x.as_tensor()).unwrap().to_vec2::<f64>().unwrap()
        };
        assert_eq!(g(&ours), vec![vec![0.0, 2.0, 3.0], vec![4.0, 0.0, 0.0]]);
        assert_eq!(g(&ours), g(&theirs));
    }
}
