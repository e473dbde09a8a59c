//! The fused recurrence: one custom op per layer and direction that runs
//! the whole time loop, with an explicit backward pass through time.
//!
//! Composed from candle ops, a recurrent layer records a dozen autograd
//! nodes per step, and slicing the input projection per step costs a
//! full-size gradient per slice in backward (O(T^2)). This op takes the
//! projection of all steps at once and returns every step's state; its
//! backward walks the steps in reverse with preallocated buffers and
//! accumulates `dW_hh` in one product at the end.
//!
//! CPU only, f32 and f64; other devices use the composed path.

mod cells;
mod gemm;
mod split;

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, WithDType};
use num_traits::Float;

pub(crate) use cells::Kind;
use cells::{backward_row, forward_row, RowGrads};
use gemm::{matmul, Mat};

/// What the backward pass through time leaves for the sums over rows and
/// steps: `dgi` and `dgh` `[T, B, G*H]`, every step's `h_{k-1}` `[T, B, H]`,
/// and the gradients of the initial state `[B, H]`.
pub(crate) struct Bptt<T> {
    pub dgi: Vec<T>,
    pub dgh: Vec<T>,
    pub h_prev: Vec<T>,
    pub dh: Vec<T>,
    pub dc: Vec<T>,
}

/// The op for one layer and direction.
///
/// Arguments: `gi` `[T, B, G*H]` (time-major `W_ih x + b_ih`), `w_hh`
/// `[G*H, H]`, and `aux`, a flat vector of `h0` `[B*H]`, `c0` `[B*H]` (LSTM
/// only), `b_hh` `[G*H]` and the mask `[T*B]` (1 real, 0 padding).
/// Result: `[T, B, slots*H]`, see [`cells`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FusedRecurrence {
    pub kind: Kind,
    pub time: usize,
    pub batch: usize,
    pub hidden: usize,
    pub reverse: bool,
}

impl FusedRecurrence {
    fn order(&self) -> Vec<usize> {
        match self.reverse {
            true => (0..self.time).rev().collect(),
            false => (0..self.time).collect(),
        }
    }

    /// Splits `aux` into `(h0, c0, b_hh, mask)`.
    fn unpack<'a, T>(&self, aux: &'a [T]) -> (&'a [T], &'a [T], &'a [T], &'a [T]) {
        let bh = self.batch * self.hidden;
        let (h0, rest) = aux.split_at(bh);
        let (c0, rest) = rest.split_at(if self.kind.has_c() { bh } else { 0 });
        let (b_hh, mask) = rest.split_at(self.kind.gates() * self.hidden);
        (h0, c0, b_hh, mask)
    }

    fn aux_len(&self) -> usize {
        let bh = self.batch * self.hidden;
        bh * (1 + usize::from(self.kind.has_c()))
            + self.kind.gates() * self.hidden
            + self.time * self.batch
    }

    fn forward<T: Float + 'static>(&self, gi: &[T], w: &[T], aux: &[T]) -> Vec<T> {
        let (b, h, k) = (self.batch, self.hidden, self.kind.slots());
        let gh_len = self.kind.gates() * h;
        let (h0, c0, b_hh, mask) = self.unpack(aux);
        let mut out = vec![T::zero(); self.time * b * k * h];
        let mut gh = vec![T::zero(); b * gh_len];
        let mut h_prev = h0.to_vec();
        let mut c_prev = if self.kind.has_c() {
            c0.to_vec()
        } else {
            vec![T::zero(); b * h]
        };
        for t in self.order() {
            // gh = h_{k-1} W_hh^T + b_hh   [B, G*H]
            gh.chunks_mut(gh_len)
                .for_each(|row| row.copy_from_slice(b_hh));
            matmul(&mut gh, Mat::new(&h_prev), Mat::t(w), (b, gh_len, h), true);
            let out_t = &mut out[t * b * k * h..(t + 1) * b * k * h];
            for r in 0..b {
                let row = &mut out_t[r * k * h..(r + 1) * k * h];
                let gi_r = &gi[(t * b + r) * gh_len..(t * b + r + 1) * gh_len];
                let (hp, cp) = (&h_prev[r * h..(r + 1) * h], &c_prev[r * h..(r + 1) * h]);
                forward_row(
                    self.kind,
                    gi_r,
                    &gh[r * gh_len..(r + 1) * gh_len],
                    hp,
                    cp,
                    mask[t * b + r],
                    row,
                );
            }
            for r in 0..b {
                let row = &out_t[r * k * h..];
                h_prev[r * h..(r + 1) * h].copy_from_slice(&row[..h]);
                if self.kind.has_c() {
                    c_prev[r * h..(r + 1) * h].copy_from_slice(&row[h..2 * h]);
                }
            }
        }
        out
    }

    /// `(dgi, dw_hh, daux)` from the result and its gradient.
    fn backward<T: Float + 'static>(
        &self,
        w: &[T],
        aux: &[T],
        out: &[T],
        dout: &[T],
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        self.reduce(self.through_time(w, aux, out, dout))
    }

    /// The backward pass through time, row by row: everything but the sums
    /// over rows and steps.
    fn through_time<T: Float + 'static>(
        &self,
        w: &[T],
        aux: &[T],
        out: &[T],
        dout: &[T],
    ) -> Bptt<T> {
        let (b, h, k) = (self.batch, self.hidden, self.kind.slots());
        let gh_len = self.kind.gates() * h;
        let (h0, c0, _, mask) = self.unpack(aux);
        let zero = T::zero();
        let mut dgi = vec![zero; self.time * b * gh_len];
        let mut dgh = vec![zero; self.time * b * gh_len];
        let mut h_prev_all = vec![zero; self.time * b * h]; // h_{k-1} of every step
        let (mut dh, mut dc) = (vec![zero; b * h], vec![zero; b * h]);
        let mut dh_direct = vec![zero; b * h];
        let zeros = vec![zero; b * h];
        let order = self.order();
        for (idx, &t) in order.iter().enumerate().rev() {
            let prev = idx.checked_sub(1).map(|i| order[i]);
            for r in 0..b {
                let row = &out[(t * b + r) * k * h..(t * b + r + 1) * k * h];
                let (hp, cp) = match prev {
                    Some(p) => {
                        let prow = &out[(p * b + r) * k * h..];
                        (
                            &prow[..h],
                            if self.kind.has_c() {
                                &prow[h..2 * h]
                            } else {
                                &zeros[..h]
                            },
                        )
                    }
                    None => (
                        &h0[r * h..(r + 1) * h],
                        if self.kind.has_c() {
                            &c0[r * h..(r + 1) * h]
                        } else {
                            &zeros[..h]
                        },
                    ),
                };
                h_prev_all[(t * b + r) * h..(t * b + r + 1) * h].copy_from_slice(hp);
                // dL/dh and dL/dc after this step: from the output and from later steps.
                let d_out = &dout[(t * b + r) * k * h..];
                let dh_r = &mut dh_direct[r * h..(r + 1) * h];
                let dc_r = &mut dc[r * h..(r + 1) * h];
                for j in 0..h {
                    dh_r[j] = dh[r * h + j] + d_out[j];
                    if self.kind.has_c() {
                        dc_r[j] = dc_r[j] + d_out[h + j];
                    }
                }
                let at = (t * b + r) * gh_len;
                let grads = RowGrads {
                    dh: dh_r,
                    dc: dc_r,
                    dgi: &mut dgi[at..at + gh_len],
                    dgh: &mut dgh[at..at + gh_len],
                };
                backward_row(self.kind, row, hp, cp, mask[t * b + r], grads);
            }
            // dL/dh_{k-1} = direct part + dgh W_hh   [B, H]
            dh.copy_from_slice(&dh_direct);
            matmul(
                &mut dh,
                Mat::new(&dgh[t * b * gh_len..(t + 1) * b * gh_len]),
                Mat::new(w),
                (b, h, gh_len),
                true,
            );
        }
        Bptt {
            dgi,
            dgh,
            h_prev: h_prev_all,
            dh,
            dc,
        }
    }

    /// `(dgi, dw_hh, daux)`: the sums over rows and steps of a [`Bptt`].
    fn reduce<T: Float + 'static>(&self, bptt: Bptt<T>) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (b, h) = (self.batch, self.hidden);
        let gh_len = self.kind.gates() * h;
        let zero = T::zero();
        let Bptt {
            dgi,
            dgh,
            h_prev: h_prev_all,
            dh,
            dc,
        } = bptt;
        // dW_hh = sum over steps of dgh^T h_{k-1}: one product over all steps.
        let rows = self.time * b;
        let mut dw = vec![zero; gh_len * h];
        matmul(
            &mut dw,
            Mat::t(&dgh),
            Mat::new(&h_prev_all),
            (gh_len, h, rows),
            false,
        );
        let mut db = vec![zero; gh_len];
        for row in dgh.chunks(gh_len) {
            db.iter_mut().zip(row).for_each(|(d, g)| *d = *d + *g);
        }
        let mut daux = Vec::with_capacity(self.aux_len());
        daux.extend_from_slice(&dh);
        if self.kind.has_c() {
            daux.extend_from_slice(&dc);
        }
        daux.extend_from_slice(&db);
        daux.resize(self.aux_len(), zero); // the mask gets no gradient
        (dgi, dw, daux)
    }

    fn out_shape(&self) -> Shape {
        Shape::from((self.time, self.batch, self.kind.slots() * self.hidden))
    }
}

impl FusedRecurrence {
    #[allow(clippy::type_complexity)]
    fn grads<T: WithDType + Float + Send + Sync>(
        &self,
        gi: &Tensor,
        w: &Tensor,
        aux: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dgi, dw, daux) = self.backward_split::<T>(
            &vec_of(w)?,
            &vec_of(aux)?,
            &vec_of(res)?,
            &vec_of(grad_res)?,
        );
        let dev = gi.device();
        Ok((
            Some(Tensor::from_vec(dgi, gi.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(daux, aux.shape(), dev)?),
        ))
    }
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("fused recurrence: non-contiguous argument"),
    }
}

fn vec_of<T: WithDType>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    t.flatten_all()?.to_vec1::<T>()
}

impl CustomOp3 for FusedRecurrence {
    fn name(&self) -> &'static str {
        "fused-recurrence"
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
        seq_core::ensure_flush_denormals();
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(gi), CpuStorage::F32(w), CpuStorage::F32(aux)) => {
                CpuStorage::F32(self.forward_split(
                    contiguous(gi, l1)?,
                    contiguous(w, l2)?,
                    contiguous(aux, l3)?,
                ))
            }
            (CpuStorage::F64(gi), CpuStorage::F64(w), CpuStorage::F64(aux)) => {
                CpuStorage::F64(self.forward_split(
                    contiguous(gi, l1)?,
                    contiguous(w, l2)?,
                    contiguous(aux, l3)?,
                ))
            }
            _ => candle_core::bail!("fused recurrence: f32 or f64 arguments of one dtype"),
        };
        Ok((out, self.out_shape()))
    }

    fn bwd(
        &self,
        gi: &Tensor,
        w: &Tensor,
        aux: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        seq_core::ensure_flush_denormals();
        match gi.dtype() {
            DType::F32 => self.grads::<f32>(gi, w, aux, res, grad_res),
            DType::F64 => self.grads::<f64>(gi, w, aux, res, grad_res),
            other => candle_core::bail!("fused recurrence: no backward for {other:?}"),
        }
    }
}
