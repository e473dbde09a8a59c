//! [`State`]: the hidden state carried between time steps.

use candle_core::Tensor;

/// The state of a recurrent cell or layer.
///
/// For a cell: `h` `[batch, hidden]` (and `c` for an LSTM). For a layer, in
/// PyTorch's shapes: `h` `[layers * directions, batch, hidden]`, rows
/// ordered layer by layer, forward direction first (`h_n` of `nn.LSTM`).
#[derive(Debug, Clone)]
pub struct State {
    /// The hidden state `a<t>` (PyTorch's `h`).
    pub h: Tensor,
    /// The LSTM memory cell `c<t>`; `None` for the Elman RNN and the GRU.
    pub c: Option<Tensor>,
}

impl State {
    /// A state with a hidden part only (RNN, GRU).
    pub fn new(h: Tensor) -> Self {
        State { h, c: None }
    }

    /// An LSTM state.
    pub fn lstm(h: Tensor, c: Tensor) -> Self {
        State { h, c: Some(c) }
    }

    /// The same values cut from the graph that computed them: carried into
    /// the next batch, the state passes information forward but no
    /// gradient back (truncated backpropagation through time).
    pub fn detach(&self) -> Self {
        State {
            h: self.h.detach(),
            c: self.c.as_ref().map(Tensor::detach),
        }
    }

    /// Applies `f` to `h` and to `c` if present.
    pub fn map(
        &self,
        f: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Self> {
        Ok(State {
            h: f(&self.h)?,
            c: self.c.as_ref().map(&f).transpose()?,
        })
    }

    /// `mask * new + (1 - mask) * old` on each part: a padded step (mask 0)
    /// keeps the old state. `mask` is `[batch, 1]`.
    pub fn select(mask: &Tensor, new: &State, old: &State) -> candle_core::Result<State> {
        let pick = |n: &Tensor, o: &Tensor| -> candle_core::Result<Tensor> {
            // old + mask * (new - old): one product instead of two.
            o.add(&(n - o)?.broadcast_mul(mask)?)
        };
        Ok(State {
            h: pick(&new.h, &old.h)?,
            c: match (&new.c, &old.c) {
                (Some(n), Some(o)) => Some(pick(n, o)?),
                _ => None,
            },
        })
    }
}
