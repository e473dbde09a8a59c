//! The fused recurrence: one custom op per layer and direction that runs
//! the input projection and the whole time loop, with an explicit backward
//! pass through time.
//!
//! Composed from candle ops, a recurrent layer records a dozen autograd
//! nodes per step, each with its own allocation, and slicing the input
//! projection per step costs a full-size gradient per slice in backward
//! (O(T^2)). This op takes the layer's input and weights and returns every
//! step's state. The sequences of a batch never meet inside a layer, so
//! blocks of them run on every thread through all the steps without any
//! synchronisation ([`forward`], [`backward`]); only the weight gradients
//! are summed over the whole batch, in one product each.
//!
//! The gates each step computes are kept inside the op (not in its
//! result), so that the graph carries only the states and their gradient
//! only the states'. The LSTM's final `c` comes out of a second op,
//! [`FinalCell`], which hands its gradient to the first: the states are
//! then the whole result, `[B, T, H]`, with no slicing node after it (each
//! node of candle's backward pass allocates its gradient twice).
//!
//! CPU only, f32 and f64; other devices use the composed path.

mod backward;
mod cells;
mod forward;
mod gemm;
mod kernel;
#[cfg(target_arch = "x86_64")]
mod lstm_avx2;
#[cfg(target_arch = "x86_64")]
mod lstm_avx512;
mod math;
mod scratch;

use std::ops::Range;
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Shape, Storage, Tensor};

pub(crate) use cells::Kind;
use math::Real;
use scratch::Buffer;
use seq_core::cpu::{contiguous, storage_slice};

/// The sizes and direction of one op.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub kind: Kind,
    pub batch: usize,
    pub time: usize,
    pub input: usize,
    pub hidden: usize,
    pub reverse: bool,
}

impl Dims {
    /// `G*H`: the width of the gate pre-activations.
    fn width(&self) -> usize {
        self.kind.gates() * self.hidden
    }

    /// The steps in the order the recurrence visits them.
    fn order(&self) -> Vec<usize> {
        match self.reverse {
            true => (0..self.time).rev().collect(),
            false => (0..self.time).collect(),
        }
    }

    fn aux_len(&self) -> usize {
        let (b, h, w) = (self.batch, self.hidden, self.width());
        w * h + 2 * w + b * h * (1 + usize::from(self.kind.has_c())) + b * self.time
    }

    /// Splits `aux` into its parts.
    fn unpack<'a, T>(&self, aux: &'a [T]) -> Aux<'a, T> {
        let (b, h, w) = (self.batch, self.hidden, self.width());
        let (w_hh, rest) = aux.split_at(w * h);
        let (b_ih, rest) = rest.split_at(w);
        let (b_hh, rest) = rest.split_at(w);
        let (h0, rest) = rest.split_at(b * h);
        let (c0, mask) = rest.split_at(if self.kind.has_c() { b * h } else { 0 });
        Aux {
            w_hh,
            b_ih,
            b_hh,
            h0,
            c0,
            mask,
        }
    }

    /// Blocks of sequences, one per thread, made of whole shares of the
    /// weight gradients' sums (at least 4 sequences each): see
    /// [`seq_core::threads::shares`]. Returns the share size and the blocks.
    fn blocks(&self) -> (usize, Vec<Range<usize>>) {
        seq_core::threads::shares(self.batch, 4)
    }

    /// These sizes for the sequences `rows` only.
    fn rows(&self, rows: &Range<usize>) -> Dims {
        Dims {
            batch: rows.len(),
            ..*self
        }
    }
}

/// The third argument of the op, unpacked: `W_hh` `[G*H, H]`, `b_ih` and
/// `b_hh` `[G*H]` (zeros for a layer without bias), `h0` `[B, H]`, `c0`
/// `[B, H]` (LSTM only; empty otherwise) and the mask `[B, T]` (1 real, 0
/// padding).
#[derive(Clone, Copy)]
struct Aux<'a, T> {
    w_hh: &'a [T],
    b_ih: &'a [T],
    b_hh: &'a [T],
    h0: &'a [T],
    c0: &'a [T],
    mask: &'a [T],
}

impl<'a, T> Aux<'a, T> {
    /// The per-sequence parts for the sequences `r` of a `d.time`-step batch.
    fn rows(&self, r: &Range<usize>, d: &Dims) -> Aux<'a, T> {
        let h = d.hidden;
        let c0 = match self.c0.is_empty() {
            true => self.c0,
            false => &self.c0[r.start * h..r.end * h],
        };
        Aux {
            h0: &self.h0[r.start * h..r.end * h],
            c0,
            mask: &self.mask[r.start * d.time..r.end * d.time],
            ..*self
        }
    }
}

/// The op for one layer and direction.
///
/// Arguments: `x` `[B, T, I]`, `W_ih` `[G*H, I]` and `aux`, the flat
/// concatenation of the parts of [`Aux`]. Result: `[B, T, H]`, every
/// step's state (a padded step's is the state carried over it).
#[derive(Debug, Clone)]
pub(crate) struct FusedRecurrence {
    pub dims: Dims,
    /// Whether the forward pass keeps the gates for the backward pass;
    /// without them a backward pass runs the forward again first.
    save: bool,
    shared: Arc<Mutex<Shared>>,
}

/// What the op keeps from forward to backward, and shares with its
/// [`FinalCell`].
#[derive(Debug, Default)]
struct Shared {
    /// The gates of every step, `[B, T, saved * H]`.
    saved: Option<Saved>,
    /// The LSTM's final `c` `[B, H]`, and its gradient once [`FinalCell`]'s
    /// backward has run.
    c_last: Option<CpuStorage>,
    dc_last: Option<CpuStorage>,
}

/// The gates forward saved, in the op's element type.
enum Saved {
    F32(Buffer<f32>),
    F64(Buffer<f64>),
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Saved")
    }
}

/// The LSTM's final cell state `[B, H]`, read off a [`FusedRecurrence`]
/// applied to that op's result; its backward leaves the gradient for the
/// fused op's (which candle runs after it: it consumes the fused op's
/// result) and passes zeros to the states.
#[derive(Debug, Clone)]
pub(crate) struct FinalCell {
    dims: Dims,
    shared: Arc<Mutex<Shared>>,
}

impl FusedRecurrence {
    /// The op computing the final `c` of this one (LSTM only).
    pub fn final_cell(&self) -> FinalCell {
        FinalCell {
            dims: self.dims,
            shared: self.shared.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CustomOp1 for FinalCell {
    fn name(&self) -> &'static str {
        "fused-recurrence-final-cell"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match &shared.c_last {
            Some(c) => Ok((c.clone(), Shape::from((self.dims.batch, self.dims.hidden)))),
            None => candle_core::bail!("fused recurrence: no final cell state (not an LSTM)"),
        }
    }

    fn bwd(
        &self,
        states: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (s, l) = grad.storage_and_layout();
        let dc = match &*s {
            Storage::Cpu(CpuStorage::F32(v)) => CpuStorage::F32(contiguous(v, l)?.to_vec()),
            Storage::Cpu(CpuStorage::F64(v)) => CpuStorage::F64(contiguous(v, l)?.to_vec()),
            _ => candle_core::bail!("fused recurrence: f32 or f64 CPU gradients only"),
        };
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dc_last = Some(dc);
        Ok(Some(states.zeros_like()?))
    }
}

impl FusedRecurrence {
    /// The op over `dims`; `save`: keep the gates for a backward pass
    /// (training). Without them (inference) the forward pass writes less
    /// memory, and a backward pass, should one come, recomputes them.
    pub fn new(dims: Dims, save: bool) -> Self {
        FusedRecurrence {
            dims,
            save,
            shared: Arc::default(),
        }
    }

    fn out_shape(&self) -> Shape {
        Shape::from((self.dims.batch, self.dims.time, self.dims.hidden))
    }

    fn keep(&self, saved: Saved, c_last: CpuStorage) {
        let mut shared = self.lock();
        shared.saved = self.save.then_some(saved);
        shared.c_last = Some(c_last);
    }

    /// The gates of the forward pass over `x`, `w_ih`, `aux`, run again
    /// (after an inference forward pass, which did not keep them).
    fn recompute(&self, x: &Tensor, w_ih: &Tensor, aux: &Tensor) -> candle_core::Result<Saved> {
        fn run<T: Real>(d: &Dims, args: [&Tensor; 3]) -> candle_core::Result<Buffer<T>> {
            let guards = args.map(Tensor::storage_and_layout);
            let [x, w, aux] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
            Ok(forward::forward(d, x?, w?, aux?, true).2)
        }
        let args = [x, w_ih, aux];
        Ok(match x.dtype() {
            DType::F32 => Saved::F32(run(&self.dims, args)?),
            DType::F64 => Saved::F64(run(&self.dims, args)?),
            dtype => candle_core::bail!("fused recurrence: f32 or f64, not {dtype:?}"),
        })
    }

    #[allow(clippy::type_complexity)]
    fn grads<T: Real>(
        &self,
        [x, w_ih, aux, res, grad_res]: [&Tensor; 5],
        saved: &[T],
        dc_last: &[T],
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad_res = grad_res.contiguous()?;
        let (guards, dev) = (
            [x, w_ih, aux, res, &grad_res].map(Tensor::storage_and_layout),
            x.device(),
        );
        let [xs, ws, auxs, outs, douts] = guards.each_ref().map(|(s, l)| storage_slice::<T>(s, l));
        let g = backward::backward(
            &self.dims,
            backward::Args {
                x: xs?,
                w_ih: ws?,
                aux: auxs?,
                hs: outs?,
                dhs: douts?,
                dc_last,
                saved,
            },
            x.track_op(),
        );
        let dx = match g.dx {
            Some(dx) => Some(Tensor::from_vec(dx, x.shape(), dev)?),
            None => None,
        };
        Ok((
            dx,
            Some(Tensor::from_vec(g.dw_ih, w_ih.shape(), dev)?),
            Some(Tensor::from_vec(g.daux, aux.shape(), dev)?),
        ))
    }
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
        let _mode = seq_core::FlushScope::enter();
        let d = &self.dims;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(aux)) => {
                let args = (contiguous(x, l1)?, contiguous(w, l2)?, contiguous(aux, l3)?);
                let (out, c_last, saved) = forward::forward(d, args.0, args.1, args.2, self.save);
                self.keep(Saved::F32(saved), CpuStorage::F32(c_last));
                CpuStorage::F32(out)
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(aux)) => {
                let args = (contiguous(x, l1)?, contiguous(w, l2)?, contiguous(aux, l3)?);
                let (out, c_last, saved) = forward::forward(d, args.0, args.1, args.2, self.save);
                self.keep(Saved::F64(saved), CpuStorage::F64(c_last));
                CpuStorage::F64(out)
            }
            _ => candle_core::bail!("fused recurrence: f32 or f64 arguments of one dtype"),
        };
        Ok((out, self.out_shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w_ih: &Tensor,
        aux: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let _mode = seq_core::FlushScope::enter();
        let args = [x, w_ih, aux, res, grad_res];
        let mut shared = self.lock();
        // The final c's gradient, if its op's backward ran; taken, so that a
        // second backward pass through this graph starts afresh.
        let dc_last = shared.dc_last.take();
        if shared.saved.is_none() {
            shared.saved = Some(self.recompute(x, w_ih, aux)?);
        }
        match (x.dtype(), shared.saved.as_ref(), dc_last) {
            (DType::F32, Some(Saved::F32(s)), Some(CpuStorage::F32(dc))) => {
                self.grads::<f32>(args, s, &dc)
            }
            (DType::F32, Some(Saved::F32(s)), _) => self.grads::<f32>(args, s, &[]),
            (DType::F64, Some(Saved::F64(s)), Some(CpuStorage::F64(dc))) => {
                self.grads::<f64>(args, s, &dc)
            }
            (DType::F64, Some(Saved::F64(s)), _) => self.grads::<f64>(args, s, &[]),
            (dtype, ..) => candle_core::bail!(
                "fused recurrence: no saved {dtype:?} forward to go back through"
            ),
        }
    }
}
