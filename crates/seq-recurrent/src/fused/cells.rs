//! The element-wise part of one step for one sequence, forward and
//! backward, for each cell kind. The matrix products are done by the
//! caller; `gi = W_ih x + b_ih` and `gh = W_hh h_{k-1} + b_hh` come in.
//!
//! A step's output row holds `slots * H` values: the state after the step
//! (kept from before on a padded step), then what the backward pass needs:
//!
//! | kind | slots |
//! |---|---|
//! | Elman RNN | `h` |
//! | LSTM | `h, c, i, f, g, o` |
//! | GRU | `h, r, z, n, W_hn h_{k-1} + b_hn` |

// The loops index several gate slices at once; indices read as the math does.
#![allow(clippy::needless_range_loop)]

use num_traits::Float;
use seq_core::Activation;

/// Which cell a fused op runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rnn(Activation),
    Lstm,
    Gru,
}

impl Kind {
    /// Gates per hidden unit in `W_ih` and `W_hh`.
    pub fn gates(self) -> usize {
        match self {
            Kind::Rnn(_) => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }

    /// Values per hidden unit in an output row.
    pub fn slots(self) -> usize {
        match self {
            Kind::Rnn(_) => 1,
            Kind::Lstm => 6,
            Kind::Gru => 5,
        }
    }

    pub fn has_c(self) -> bool {
        self == Kind::Lstm
    }
}

fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// One sequence's step forward: `out` gets the slots; `m` is 1 for a real
/// step and 0 for padding (the state is then carried).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_row<T: Float>(
    kind: Kind,
    gi: &[T],
    gh: &[T],
    h_prev: &[T],
    c_prev: &[T],
    m: T,
    out: &mut [T],
) {
    let h = h_prev.len();
    let keep = |new: T, old: T| old + m * (new - old);
    match kind {
        Kind::Rnn(g1) => {
            for j in 0..h {
                let pre = gi[j] + gh[j];
                let a = match g1 {
                    Activation::Relu => pre.max(T::zero()),
                    Activation::Sigmoid => sigmoid(pre),
                    Activation::Identity => pre,
                    _ => pre.tanh(),
                };
                out[j] = keep(a, h_prev[j]);
            }
        }
        Kind::Lstm => {
            let (hs, rest) = out.split_at_mut(h);
            let (cs, rest) = rest.split_at_mut(h);
            let (is, rest) = rest.split_at_mut(h);
            let (fs, rest) = rest.split_at_mut(h);
            let (gs, os) = rest.split_at_mut(h);
            for j in 0..h {
                let i = sigmoid(gi[j] + gh[j]);
                let f = sigmoid(gi[h + j] + gh[h + j]);
                let g = (gi[2 * h + j] + gh[2 * h + j]).tanh();
                let o = sigmoid(gi[3 * h + j] + gh[3 * h + j]);
                let c = f * c_prev[j] + i * g;
                (is[j], fs[j], gs[j], os[j]) = (i, f, g, o);
                cs[j] = keep(c, c_prev[j]);
                hs[j] = keep(o * c.tanh(), h_prev[j]);
            }
        }
        Kind::Gru => {
            let (hs, rest) = out.split_at_mut(h);
            let (rs, rest) = rest.split_at_mut(h);
            let (zs, rest) = rest.split_at_mut(h);
            let (ns, ghn) = rest.split_at_mut(h);
            for j in 0..h {
                let r = sigmoid(gi[j] + gh[j]);
                let z = sigmoid(gi[h + j] + gh[h + j]);
                let n = (gi[2 * h + j] + r * gh[2 * h + j]).tanh();
                (rs[j], zs[j], ns[j], ghn[j]) = (r, z, n, gh[2 * h + j]);
                hs[j] = keep(n + z * (h_prev[j] - n), h_prev[j]);
            }
        }
    }
}

/// Gradients of one step for one sequence.
pub(crate) struct RowGrads<'a, T> {
    /// In: dL/dh after the step (from the output and from later steps).
    /// Out: the part that flows to `h_{k-1}` directly (not through `W_hh`).
    pub dh: &'a mut [T],
    /// In: dL/dc after the step (LSTM). Out: dL/dc_{k-1}.
    pub dc: &'a mut [T],
    /// Out: dL/d(gi), the input projection's pre-activation.
    pub dgi: &'a mut [T],
    /// Out: dL/d(gh), the hidden product's (equal to `dgi` but for the GRU's n gate).
    pub dgh: &'a mut [T],
}

/// One sequence's step backward from its output row.
pub(crate) fn backward_row<T: Float>(
    kind: Kind,
    out: &[T],
    h_prev: &[T],
    c_prev: &[T],
    m: T,
    g: RowGrads<T>,
) {
    let h = h_prev.len();
    let one = T::one();
    match kind {
        Kind::Rnn(g1) => {
            for j in 0..h {
                // On a real step the output is a = g1(pre); derivatives from it.
                let a = out[j];
                let da = match g1 {
                    Activation::Relu => {
                        if a > T::zero() {
                            one
                        } else {
                            T::zero()
                        }
                    }
                    Activation::Sigmoid => a * (one - a),
                    Activation::Identity => one,
                    _ => one - a * a,
                };
                let d = g.dh[j];
                g.dgi[j] = m * d * da;
                g.dgh[j] = g.dgi[j];
                g.dh[j] = (one - m) * d;
            }
        }
        Kind::Lstm => {
            let (cs, is, fs, gs, os) = (
                &out[h..2 * h],
                &out[2 * h..3 * h],
                &out[3 * h..4 * h],
                &out[4 * h..5 * h],
                &out[5 * h..],
            );
            for j in 0..h {
                let (i, f, gg, o) = (is[j], fs[j], gs[j], os[j]);
                let tc = cs[j].tanh(); // c is the new cell on a real step
                let dh_new = m * g.dh[j];
                let dc_new = m * g.dc[j] + dh_new * o * (one - tc * tc);
                let d_o = dh_new * tc;
                let (d_i, d_f, d_g) = (dc_new * gg, dc_new * c_prev[j], dc_new * i);
                g.dgi[j] = d_i * i * (one - i);
                g.dgi[h + j] = d_f * f * (one - f);
                g.dgi[2 * h + j] = d_g * (one - gg * gg);
                g.dgi[3 * h + j] = d_o * o * (one - o);
                g.dc[j] = dc_new * f + (one - m) * g.dc[j];
                g.dh[j] = (one - m) * g.dh[j];
            }
            g.dgh.copy_from_slice(g.dgi);
        }
        Kind::Gru => {
            let (rs, zs, ns, ghn) = (
                &out[h..2 * h],
                &out[2 * h..3 * h],
                &out[3 * h..4 * h],
                &out[4 * h..],
            );
            for j in 0..h {
                let (r, z, n) = (rs[j], zs[j], ns[j]);
                let dh_new = m * g.dh[j];
                let dn = dh_new * (one - z);
                let dz = dh_new * (h_prev[j] - n);
                let dpre_n = dn * (one - n * n);
                let dr = dpre_n * ghn[j];
                g.dgi[j] = dr * r * (one - r);
                g.dgi[h + j] = dz * z * (one - z);
                g.dgi[2 * h + j] = dpre_n;
                g.dgh[j] = g.dgi[j];
                g.dgh[h + j] = g.dgi[h + j];
                g.dgh[2 * h + j] = dpre_n * r;
                g.dh[j] = dh_new * z + (one - m) * g.dh[j];
            }
        }
    }
}
