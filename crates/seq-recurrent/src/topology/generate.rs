//! One-to-one and one-to-many: a single input, one output or a generated
//! sequence.

use candle_core::Tensor;
use seq_core::{Error, Mode, Result, Seq};

use crate::{Recurrent, State};

/// One-to-one: one input `[batch, I]` through one step of `rnn` from
/// `initial` (zeros when `None`), to `[batch, directions * H]`.
pub fn one_to_one(rnn: &dyn Recurrent, x: &Tensor, initial: Option<&State>) -> Result<Tensor> {
    let xs = Seq::new(x.unsqueeze(1)?)?; // [batch, 1, I]
    let (out, _) = rnn.forward_with_state(&xs, initial, Mode::Eval)?;
    Ok(out.values().squeeze(1)?)
}

/// One-to-many: generates `steps` outputs from one input `first` `[batch,
/// I]`, feeding each output back.
///
/// At each step `t`: `a<t>` is one step of `rnn` on `x<t>` from the state
/// so far, `y<t> = head(a<t>)`, and `x<t+1> = feedback(y<t>)` (the output
/// itself, an embedding of the sampled token, ...). Each step costs one
/// step: the state is carried, nothing is recomputed.
///
/// # Returns
/// `y<1..steps>`, each `[batch, O]`.
pub fn generate(
    rnn: &dyn Recurrent,
    head: &dyn Fn(&Tensor) -> Result<Tensor>,
    first: &Tensor,
    initial: Option<State>,
    steps: usize,
    mut feedback: impl FnMut(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Tensor>> {
    if rnn.config().bidirectional {
        return Err(Error::config(
            "generate",
            "a bidirectional layer cannot generate: its reverse direction needs the future",
        ));
    }
    let mut x = first.clone();
    let mut state = initial;
    let mut ys = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (out, next) =
            rnn.forward_with_state(&Seq::new(x.unsqueeze(1)?)?, state.as_ref(), Mode::Eval)?;
        let y = head(&out.values().squeeze(1)?)?; // [batch, O]
        x = feedback(&y)?;
        ys.push(y);
        state = Some(next);
    }
    Ok(ys)
}
