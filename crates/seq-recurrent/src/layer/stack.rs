//! [`Stack`]: the engine behind every recurrent layer; cells of any kind
//! unrolled over time, layer by layer, in one or both directions.

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use seq_core::{Dropout, Error, Mode, Result, Seq};

use super::{Engine, RecurrentConfig};
use crate::fused::{Dims, FusedRecurrence, Kind};
use crate::{Cell, State};

/// `cells[layer][direction]`, with dropout between layers.
#[derive(Debug)]
pub(crate) struct Stack<C> {
    pub cells: Vec<Vec<C>>,
    pub dropout: Dropout,
    pub config: RecurrentConfig,
    pub name: &'static str,
    kind: Kind,
}

impl<C: Cell> Stack<C> {
    /// Builds every cell with `make(input_size, vb, suffix, name)`, where the
    /// suffix is PyTorch's `_l{k}` or `_l{k}_reverse`.
    pub fn new(
        name: &'static str,
        kind: Kind,
        config: RecurrentConfig,
        vb: VarBuilder,
        make: impl Fn(usize, &VarBuilder, &str, String) -> Result<C>,
    ) -> Result<Self> {
        if config.num_layers == 0 {
            return Err(Error::config(name, "num_layers must be at least 1"));
        }
        let dropout = Dropout::new(config.dropout, config.seed)
            .map_err(|e| Error::config(name, e.to_string()))?;
        let mut cells = Vec::with_capacity(config.num_layers);
        for k in 0..config.num_layers {
            let input = if k == 0 {
                config.input_size
            } else {
                config.output_size()
            };
            let layer = (0..config.directions())
                .map(|d| {
                    let (suffix, dir) = if d == 0 {
                        (format!("_l{k}"), "")
                    } else {
                        (format!("_l{k}_reverse"), " (reverse)")
                    };
                    make(input, &vb, &suffix, format!("{name} layer {k}{dir}"))
                })
                .collect::<Result<Vec<C>>>()?;
            cells.push(layer);
        }
        Ok(Stack {
            cells,
            dropout,
            config,
            name,
            kind,
        })
    }

    pub fn forward(&self, xs: &Seq, initial: Option<&State>, mode: Mode) -> Result<(Seq, State)> {
        xs.expect_features(self.name, self.config.input_size)?;
        let (batch, time) = (xs.batch(), xs.time());
        if time == 0 || batch == 0 {
            return Err(Error::shape(
                self.name,
                "input",
                "at least one sequence of at least one time step",
                xs.values().dims(),
            ));
        }
        let rows = self.config.num_layers * self.config.directions();
        if let Some(s) = initial {
            self.check_initial(s, rows, batch)?;
        }
        // The mask of each step, [batch, 1], split once.
        let masks = match xs.mask() {
            Some(m) => Some(
                m.t()?
                    .contiguous()?
                    .chunk(time, 0)?
                    .into_iter()
                    .map(|m| m.reshape((batch, 1)))
                    .collect::<candle_core::Result<Vec<_>>>()?,
            ),
            None => None,
        };

        let mut input = xs.values().clone();
        let mut finals = Vec::with_capacity(rows);
        for (k, layer) in self.cells.iter().enumerate() {
            if k > 0 {
                input = self.dropout.apply(&input, mode)?;
            }
            let mut outputs = Vec::with_capacity(layer.len());
            for (d, cell) in layer.iter().enumerate() {
                let row = k * layer.len() + d;
                let start = match initial {
                    Some(s) => s.map(|t| t.get(row))?,
                    None => cell.zero_state(batch)?,
                };
                let (out, last) = if self.fused(&input) {
                    let train = mode == Mode::Train;
                    unroll_fused(cell, self.kind, &input, xs.mask(), d == 1, start, train)?
                } else {
                    unroll(cell, &input, masks.as_deref(), d == 1, start)?
                };
                outputs.push(out);
                finals.push(last);
            }
            input = Tensor::cat(&outputs, D::Minus1)?; // [batch, time, directions * H]
        }
        if let Some(m) = xs.mask() {
            input = input.broadcast_mul(&m.unsqueeze(2)?)?; // zeros at padded steps
        }
        let h = Tensor::stack(&finals.iter().map(|s| s.h.clone()).collect::<Vec<_>>(), 0)?;
        let c = match finals
            .iter()
            .map(|s| s.c.clone())
            .collect::<Option<Vec<_>>>()
        {
            Some(cs) => Some(Tensor::stack(&cs, 0)?),
            None => None,
        };
        Ok((xs.with_values(input)?, State { h, c }))
    }

    /// Whether the fused op runs this input.
    fn fused(&self, x: &Tensor) -> bool {
        self.config.engine == Engine::Fused && seq_core::cpu::supports(x)
    }

    fn check_initial(&self, s: &State, rows: usize, batch: usize) -> Result<()> {
        let want = [rows, batch, self.config.hidden_size];
        let expected = format!(
            "[{rows}, {batch}, {}] (layers * directions, batch, hidden)",
            self.config.hidden_size
        );
        if s.h.dims() != want {
            return Err(Error::shape(
                self.name,
                "initial state h",
                expected,
                s.h.dims(),
            ));
        }
        let needs_c = self.cells[0][0].zero_state(1)?.c.is_some();
        match (&s.c, needs_c) {
            (Some(c), true) if c.dims() != want => Err(Error::shape(
                self.name,
                "initial state c",
                expected,
                c.dims(),
            )),
            (None, true) => Err(Error::config(
                self.name,
                "the initial state needs c as well as h",
            )),
            (Some(_), false) => Err(Error::config(
                self.name,
                "the initial state has a c, which this layer does not use",
            )),
            _ => Ok(()),
        }
    }

    pub fn num_params(&self) -> usize {
        self.cells
            .iter()
            .flatten()
            .map(|c| c.weights().num_params())
            .sum()
    }
}

/// Runs one cell over all steps of `x` `[batch, time, I]`, forwards or in
/// reverse; a step whose mask is 0 keeps the state.
///
/// # Returns
/// `h` at every step `[batch, time, H]` and the final state.
fn unroll<C: Cell>(
    cell: &C,
    x: &Tensor,
    masks: Option<&[Tensor]>,
    reverse: bool,
    start: State,
) -> Result<(Tensor, State)> {
    let (batch, time, input) = x.dims3()?;
    // One product for the input projection of all steps, laid out time-major
    // so that each step's slice is contiguous.
    let gi = cell.project(&x.reshape((batch * time, input))?)?; // [batch * time, G*H]
    let gi = gi
        .reshape((batch, time, ()))?
        .transpose(0, 1)?
        .contiguous()?; // [time, batch, G*H]
    let steps = gi.chunk(time, 0)?;

    let mut state = start;
    let mut hs = vec![None; time];
    let order: Box<dyn Iterator<Item = usize>> = if reverse {
        Box::new((0..time).rev())
    } else {
        Box::new(0..time)
    };
    for t in order {
        let next = cell.step_projected(&steps[t].squeeze(0)?, &state)?;
        state = match masks {
            Some(m) => State::select(&m[t], &next, &state)?,
            None => next,
        };
        hs[t] = Some(state.h.clone());
    }
    let hs: Vec<Tensor> = hs.into_iter().flatten().collect();
    Ok((Tensor::stack(&hs, 1)?, state))
}

/// [`unroll`] as one [`FusedRecurrence`] op, which keeps its gates for the
/// backward pass when `train` (in evaluation a backward pass, should one
/// come, computes them again).
fn unroll_fused<C: Cell>(
    cell: &C,
    kind: Kind,
    x: &Tensor,
    mask: Option<&Tensor>,
    reverse: bool,
    start: State,
    train: bool,
) -> Result<(Tensor, State)> {
    let (batch, time, input) = x.dims3()?;
    let w = cell.weights();
    let hidden = w.hidden_size;
    let (dtype, dev) = (x.dtype(), x.device());
    let bias = |b: &Option<Tensor>| match b {
        Some(b) => Ok(b.clone()),
        None => Tensor::zeros(kind.gates() * hidden, dtype, dev),
    };
    let mut aux = vec![
        w.weight_hh.flatten_all()?,
        bias(&w.bias_ih)?,
        bias(&w.bias_hh)?,
        start.h.flatten_all()?,
    ];
    if kind.has_c() {
        aux.push(match &start.c {
            Some(c) => c.flatten_all()?,
            None => Tensor::zeros(batch * hidden, dtype, dev)?,
        });
    }
    aux.push(match mask {
        Some(m) => m.flatten_all()?, // [batch * time]
        None => Tensor::ones(batch * time, dtype, dev)?,
    });
    let op = FusedRecurrence::new(
        Dims {
            kind,
            batch,
            time,
            input,
            hidden,
            reverse,
        },
        train,
    );
    let final_cell = op.final_cell();
    let hs = x
        .contiguous()?
        .apply_op3(&w.weight_ih.contiguous()?, &Tensor::cat(&aux, 0)?, op)?; // [batch, time, H]
    let c = match kind.has_c() {
        true => Some(hs.apply_op1(final_cell)?), // [batch, H]
        false => None,
    };
    let last = if reverse { 0 } else { time - 1 };
    let h = hs.narrow(1, last, 1)?.squeeze(1)?;
    Ok((hs, State { h, c }))
}
