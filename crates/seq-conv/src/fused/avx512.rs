//! [`FusedConv1d`]'s forward pass in AVX-512 register tiles (f32,
//! [`seq_core::panel`]): for 4 output steps and up to 64 output channels,
//! every tap's product summed in registers from the bias, then stored once;
//! a tap whose input step falls in the padding reads a row of zeros.
//! Checked against the composed convolution by `conv1d`'s tests.

use std::arch::x86_64::*;

use seq_core::panel::{tile, Panels};

use super::FusedConv1d;

impl FusedConv1d {
    /// The forward pass in AVX-512 register tiles ([`seq_core::panel`]),
    /// `None` on a CPU without AVX-512F. Blocks of sequences run on
    /// candle's pool as in [`Self::forward`].
    pub(super) fn forward_avx512(&self, x: &[f32], w: &[f32], bias: &[f32]) -> Option<Vec<f32>> {
        let (ci, co, taps) = (self.in_channels, self.out_channels, self.kernel);
        let (t_in, t_out) = (self.time, self.out_len);
        let len = self.batch * t_out * co;
        // B [K * C_in, C_out]: row k * C_in + c holds weight[:, c, k].
        let width = co.div_ceil(16).clamp(1, 4) * 16;
        let panels = Panels::new((taps * ci, co), width, |kk, j| {
            w[(j * ci + kk % ci) * taps + kk / ci]
        })?;
        let mut b = bias.to_vec();
        b.resize(co.div_ceil(width) * width, 0.0);
        let zeros = vec![0.0f32; ci];
        let mut y: Vec<f32> = Vec::with_capacity(len);
        if len == 0 {
            return Some(y);
        }
        seq_core::threads::run_each(self.output_parts(&mut y), |(r, part)| {
            // Each tap's rows of a tile, refilled per tile.
            let mut parts = vec![([std::ptr::null::<f32>(); 4], ci); taps];
            for (i, y) in r.zip(part.chunks_mut(t_out * co)) {
                let x = &x[i * t_in * ci..(i + 1) * t_in * ci];
                for blk in 0..co.div_ceil(width) {
                    let out = Out {
                        y: y.as_mut_ptr().cast::<f32>(),
                        first: blk * width,
                        cols: co,
                    };
                    // SAFETY: the panels exist, so the CPU has AVX-512F;
                    // `x` is one sequence `[T, C_in]`, `zeros` a row of
                    // `C_in`, `y` its outputs `[T_out, C_out]`, and the
                    // block and its bias hold `width` columns.
                    unsafe {
                        let block = panels.block(blk).as_ptr();
                        let bias = b.as_ptr().add(blk * width);
                        match width {
                            16 => self.tiles::<1>(block, bias, x, &zeros, &mut parts, out),
                            32 => self.tiles::<2>(block, bias, x, &zeros, &mut parts, out),
                            48 => self.tiles::<3>(block, bias, x, &zeros, &mut parts, out),
                            _ => self.tiles::<4>(block, bias, x, &zeros, &mut parts, out),
                        }
                    }
                }
            }
        });
        // SAFETY: the jobs' parts cover the first `len` elements of the
        // capacity, and the tiles stored every output step's `C_out`
        // columns of each.
        unsafe { y.set_len(len) };
        Some(y)
    }

    /// One sequence's outputs in the columns of one block, 4 steps at a
    /// time; tap `k` of step `t` reads input step `s*t + d*k - left`, or
    /// `zeros` where that falls in the padding. `parts` (one per tap, each
    /// `C_in` long) is scratch the tiles refill.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `block` must hold `K * C_in` rows of
    /// `16 * G` values, `bias` `16 * G` values, `x` the sequence `[T, C_in]`,
    /// `zeros` `C_in` values, `parts` `K` entries of length `C_in`, and
    /// `out.y` `T_out * C_out` writable values.
    #[target_feature(enable = "avx512f")]
    unsafe fn tiles<const G: usize>(
        &self,
        block: *const f32,
        bias: *const f32,
        x: &[f32],
        zeros: &[f32],
        parts: &mut [([*const f32; 4], usize)],
        out: Out,
    ) {
        let ci = self.in_channels;
        let row = |t: usize, k: usize| {
            let u = (self.stride * t + self.dilation * k).checked_sub(self.left);
            match u {
                Some(u) if u < self.time => x.as_ptr().add(u * ci),
                _ => zeros.as_ptr(),
            }
        };
        for t0 in (0..self.out_len).step_by(4) {
            // Steps t0.. (the last repeated past the end, not stored).
            let step = |s: usize| (t0 + s).min(self.out_len - 1);
            for (k, (rows, _)) in parts.iter_mut().enumerate() {
                *rows = std::array::from_fn(|s| row(step(s), k));
            }
            let acc = tile::<4, G>(block, Some(bias), parts);
            for (s, acc) in acc.iter().enumerate().take(self.out_len - t0) {
                for (g, v) in acc.iter().enumerate() {
                    let col = out.first + 16 * g;
                    let at = || out.y.add((t0 + s) * out.cols + col);
                    match out.cols.saturating_sub(col) {
                        0 => {}
                        16.. => _mm512_storeu_ps(at(), *v),
                        lanes => _mm512_mask_storeu_ps(at(), (1 << lanes) - 1, *v),
                    }
                }
            }
        }
    }
}

/// Where [`FusedConv1d::tiles`] stores: one sequence's outputs `[T_out,
/// cols]`, from column `first` on.
#[derive(Clone, Copy)]
struct Out {
    y: *mut f32,
    first: usize,
    cols: usize,
}
