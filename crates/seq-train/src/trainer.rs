//! [`Trainer`]: Keras' `fit` for any model built from seq's modules.

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use seq_core::{Mode, Params};

use crate::callback::{Callback, Control};
use crate::checkpoint::{self, Checkpoint, TrainerState};
use crate::data::DataSource;
use crate::distributed::{self, Collective, SingleProcess};
use crate::{clip, log, Error, History, Optimizer, Record, Result, TrainerConfig};

/// What a model is trained on: the loss of a batch, and optionally metrics
/// over a data set. `B` is whatever a batch is (tensors, ids and labels...).
pub trait Task<B> {
    /// The scalar loss of one batch.
    fn loss(&self, batch: &B, mode: Mode) -> seq_core::Result<Tensor>;

    /// Metrics over `batches` (e.g. `accuracy`), in evaluation mode. None by default.
    fn metrics(&self, _batches: &[B]) -> seq_core::Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }

    /// Examples in a batch, for throughput and the weighting of the mean loss (default 1).
    fn size(&self, _batch: &B) -> usize {
        1
    }
}

/// What a per-step hook sees.
#[derive(Debug, Clone, Copy)]
pub struct StepEvent {
    /// The global step just taken (0-based).
    pub step: u64,
    /// The epoch (0-based).
    pub epoch: usize,
    /// The batch's loss.
    pub loss: f64,
    /// The learning rate used.
    pub lr: f64,
    /// The global gradient norm before clipping, when clipping by norm.
    pub grad_norm: Option<f64>,
}

/// A hook called after every optimiser step.
type StepHook = Box<dyn FnMut(&StepEvent)>;

/// A hook called after every epoch with its index and record.
type EpochHook = Box<dyn FnMut(usize, &[(String, f64)])>;

/// Trains a model's [`Params`] with an [`Optimizer`] on a [`Task`]: seeded
/// batch order, learning-rate schedule, clipping, validation metrics, early
/// stopping with the best weights kept, checkpoints a crash cannot corrupt,
/// and a stop with a clear error at the first non-finite loss or gradient.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use candle_core::{DType, Device, Tensor};
/// use seq_core::{Linear, LinearConfig, Mode, Params};
/// use seq_train::{loss, OptimizerConfig, Task, Trainer, TrainerConfig};
///
/// /// y = 3x - 1, learned by one linear unit.
/// struct Line(Linear);
///
/// impl Task<(Tensor, Tensor)> for Line {
///     fn loss(&self, (x, y): &(Tensor, Tensor), _mode: Mode) -> seq_core::Result<Tensor> {
///         loss::mse(&self.0.apply(x)?, y)
///     }
/// }
///
/// let params = Params::new(0);
/// let vb = params.var_builder(DType::F32, &Device::Cpu);
/// let model = Line(Linear::new(LinearConfig::new(1, 1), vb.pp("line"))?);
/// let batches = (0..20)
///     .map(|i| {
///         let x = Tensor::arange(0f32, 8.0, &Device::Cpu)?.affine(0.1, i as f64 * 0.01)?;
///         let y = x.affine(3.0, -1.0)?;
///         Ok((x.unsqueeze(1)?, y.unsqueeze(1)?))
///     })
///     .collect::<seq_core::Result<Vec<_>>>()?;
/// let optimizer = OptimizerConfig::adam(0.1).build(params.named_vars())?;
/// let config = TrainerConfig::new(30).with_seed(1).with_quiet(true);
/// let history = Trainer::new(config, params.clone(), optimizer).fit(&model, &batches, None)?;
/// let loss = history.series("train_loss");
/// assert!(loss.last().unwrap() < &1e-3, "{loss:?}");
/// let w = params.get("line.weight").unwrap().to_vec2::<f32>()?[0][0];
/// assert!((w - 3.0).abs() < 0.05, "{w}");
/// # Ok(()) }
/// ```
pub struct Trainer<O> {
    /// The settings.
    pub config: TrainerConfig,
    params: Params,
    optimizer: O,
    base_lr: f64,
    state: TrainerState,
    history: History,
    best_weights: Option<Vec<(String, Tensor)>>,
    on_step: Vec<StepHook>,
    on_epoch: Vec<EpochHook>,
    callbacks: Vec<Box<dyn Callback>>,
    /// A callback asked to stop after the current step.
    stop_requested: bool,
    /// The ranks training together (one by default).
    collective: Box<dyn Collective>,
}

impl<O: Optimizer> Trainer<O> {
    /// A trainer of `params` with `optimizer` (its current rate is the base rate).
    pub fn new(config: TrainerConfig, params: Params, optimizer: O) -> Self {
        let state = TrainerState {
            epoch: 0,
            step: 0,
            seed: config.seed,
            best: None,
            bad_epochs: 0,
            history: Vec::new(),
            batch: 0,
            epoch_loss_sum: 0.0,
            epoch_examples: 0,
            base_lr: None,
        };
        Trainer {
            base_lr: optimizer.learning_rate(),
            config,
            params,
            optimizer,
            state,
            history: History::default(),
            best_weights: None,
            on_step: Vec::new(),
            on_epoch: Vec::new(),
            callbacks: Vec::new(),
            stop_requested: false,
            collective: Box::new(SingleProcess),
        }
    }

    /// Calls `hook` after every optimiser step.
    pub fn on_step(&mut self, hook: impl FnMut(&StepEvent) + 'static) {
        self.on_step.push(Box::new(hook));
    }

    /// Adds a callback that may stop training, change the learning rate or
    /// save the weights after each step and epoch (e.g.
    /// [`ReduceLrOnPlateau`](crate::ReduceLrOnPlateau)).
    pub fn add_callback(&mut self, callback: impl Callback + 'static) {
        self.callbacks.push(Box::new(callback));
    }

    /// Has this trainer train as one rank of several: gradients are
    /// averaged over the ranks every step, rank 0's initial weights are
    /// broadcast when `fit` starts, and only rank 0 writes checkpoints,
    /// logs, saves and progress. See [`crate::distributed`].
    pub fn distribute(&mut self, collective: Box<dyn Collective>) {
        self.collective = collective;
    }

    /// This process's rank (0 when not distributed).
    pub fn rank(&self) -> usize {
        self.collective.rank()
    }

    /// No progress bars or epoch lines: asked for, or not rank 0.
    fn quiet(&self) -> bool {
        self.config.quiet || self.collective.rank() != 0
    }

    /// Carries out what a callback asked; whether it asked to stop.
    fn obey(&mut self, control: Control) -> Result<bool> {
        if let Some(lr) = control.learning_rate {
            if !(lr.is_finite() && lr >= 0.0) {
                return Err(Error::Config(format!(
                    "a callback set the learning rate to {lr}"
                )));
            }
            self.base_lr = lr;
            self.state.base_lr = Some(lr);
        }
        if let (Some(path), 0) = (&control.save, self.collective.rank()) {
            self.params.save(path)?;
        }
        Ok(control.stop)
    }

    /// Calls `hook` after every epoch with its record.
    pub fn on_epoch(&mut self, hook: impl FnMut(usize, &[(String, f64)]) + 'static) {
        self.on_epoch.push(Box::new(hook));
    }

    /// The history so far (a resumed run includes the epochs before).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Continues from the checkpoint at `path`: weights, optimiser state,
    /// epoch, step, seed, best metric and history.
    ///
    /// All or nothing: every weight, the optimiser's state and the trainer's
    /// fields are read and checked before anything changes, so a resume
    /// that fails leaves the model and the trainer exactly as they were.
    pub fn resume(&mut self, path: &std::path::Path) -> Result<()> {
        let ck = Checkpoint::load(path)?;
        let weights = ck.weights(&self.params, "model")?;
        let state = ck.state()?;
        let best = match ck.section("best").is_empty() {
            true => None,
            false => Some(
                ck.weights(&self.params, "best")?
                    .into_iter()
                    .zip(self.params.names())
                    .map(|((_, t), name)| (name, t))
                    .collect::<Vec<_>>(),
            ),
        };
        // The optimiser checks its whole state before it takes any of it;
        // from here on nothing can fail on the checkpoint's contents.
        self.optimizer
            .load_state(&ck.section("optim"))
            .map_err(|e| Error::Checkpoint {
                path: path.into(),
                message: e.to_string(),
            })?;
        for (var, t) in weights {
            var.set(&t)?;
        }
        self.config.seed = state.seed;
        if let Some(lr) = state.base_lr {
            self.base_lr = lr;
        }
        self.history = History::from_state(&state.history);
        self.state = state;
        self.best_weights = best;
        Ok(())
    }

    /// The mean loss (weighted by batch size) and the task's metrics over `data`.
    pub fn evaluate<B, T: Task<B>>(&self, task: &T, data: &[B]) -> Result<Vec<(String, f64)>> {
        if data.is_empty() {
            return Err(Error::Config("evaluate: no batches".into()));
        }
        let (mut total, mut n) = (0.0, 0usize);
        let bar = log::progress(data.len(), "evaluate", self.quiet());
        for batch in data {
            let size = task.size(batch);
            total += scalar(&task.loss(batch, Mode::Eval)?)? * size as f64;
            n += size;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let mut out = vec![("loss".to_string(), total / n.max(1) as f64)];
        out.extend(task.metrics(data)?);
        Ok(out)
    }

    /// Runs `f` on every batch in evaluation mode: the model's predictions.
    pub fn predict<B>(
        &self,
        data: &[B],
        f: impl Fn(&B, Mode) -> seq_core::Result<Tensor>,
    ) -> Result<Vec<Tensor>> {
        let bar = log::progress(data.len(), "predict", self.quiet());
        let out = data
            .iter()
            .map(|b| {
                bar.inc(1);
                Ok(f(b, Mode::Eval)?)
            })
            .collect();
        bar.finish_and_clear();
        out
    }

    /// Trains on `train` for the configured epochs, evaluating on `val`
    /// after each.
    ///
    /// `train` is any [`DataSource`]: in-memory batches (`&[B]`, `&Vec<B>`,
    /// the same batches each epoch in a seeded order), a [`Planned`]
    /// source (new batches every epoch) or a stream. Batches are made on
    /// [`TrainerConfig::loader`]'s threads while the model trains; the time
    /// spent waiting for them is the epoch's `data_wait_s`. With
    /// [`TrainerConfig::accumulate`] `k`, each optimiser step sums the
    /// gradients of `k` batches.
    ///
    /// [`Planned`]: crate::data::Planned
    pub fn fit<B, T, S>(&mut self, task: &T, train: &S, val: Option<&[B]>) -> Result<History>
    where
        T: Task<B>,
        S: DataSource<Batch = B> + ?Sized,
    {
        if train.len_hint() == Some(0) {
            return Err(Error::Config("fit: no training batches".into()));
        }
        if self.config.accumulate == 0 {
            return Err(Error::Config("fit: accumulate must be at least 1".into()));
        }
        // Frozen variables get no step: their gradients are dropped.
        let vars = self.params.named_vars();
        distributed::broadcast_vars(self.collective.as_ref(), &vars)?;
        while self.state.epoch < self.config.epochs {
            let epoch = self.state.epoch;
            let start = Instant::now();
            let bar = log::progress(
                train.len_hint().unwrap_or(0),
                &format!("epoch {}", epoch + 1),
                self.quiet(),
            );
            let skip = self.state.batch as usize;
            bar.inc(skip as u64);
            let mut micro: Vec<B> = Vec::with_capacity(self.config.accumulate);
            let loader = self.config.loader;
            let limit = self
                .config
                .steps_per_epoch
                .map(|n| n.saturating_mul(self.config.accumulate));
            let wait = loader.run(train, (epoch, self.state.seed, skip, limit), |batch| {
                micro.push(batch);
                if micro.len() == self.config.accumulate {
                    self.train_step(task, &std::mem::take(&mut micro), &vars, epoch)?;
                    bar.set_message(format!("loss {:.4}", self.state.epoch_loss()));
                    bar.inc(self.config.accumulate as u64);
                }
                Ok(!self.stop_requested)
            })?;
            if !micro.is_empty() {
                // The epoch's last, shorter group of batches.
                self.train_step(task, &micro, &vars, epoch)?;
            }
            bar.finish_and_clear();
            if self.state.batch == 0 {
                return Err(Error::Config(format!(
                    "fit: epoch {} had no training batches",
                    epoch + 1
                )));
            }
            let mut record = vec![("train_loss".to_string(), self.state.epoch_loss())];
            if let Some(val) = val {
                for (k, v) in self.evaluate(task, val)? {
                    if k == "loss" && !v.is_finite() {
                        // As for the training loss: stop before this
                        // epoch's checkpoint, the last good one stays.
                        return Err(non_finite(self.state.step, "validation loss", v));
                    }
                    record.push((format!("val_{k}"), v));
                }
            }
            record.push(("lr".into(), self.optimizer.learning_rate()));
            record.push(("data_wait_s".into(), wait.as_secs_f64()));
            record.push(("seconds".into(), start.elapsed().as_secs_f64()));
            let stop = self.end_epoch(record)?;
            if stop {
                break;
            }
        }
        if let (Some(es), Some(best)) = (&self.config.early_stopping, &self.best_weights) {
            if es.restore_best {
                for ((_, var), (_, t)) in vars.iter().zip(best) {
                    var.set(t)?;
                }
            }
        }
        Ok(self.history.clone())
    }

    /// One optimiser step on the gradients of `batches` (one, or the
    /// micro-batches of an accumulated step), each weighted by its size, so
    /// that `k` batches of `n` step as one batch of `k * n` would.
    fn train_step<B, T: Task<B>>(
        &mut self,
        task: &T,
        batches: &[B],
        vars: &[(String, candle_core::Var)],
        epoch: usize,
    ) -> Result<()> {
        let step = self.state.step;
        seq_core::rng::set_step(step);
        let sizes: Vec<usize> = batches.iter().map(|b| task.size(b)).collect();
        let mut total: usize = sizes.iter().sum();
        let distributed = self.collective.world_size() > 1;
        let offsets = match distributed {
            true => distributed::row_offsets(self.collective.as_ref(), &sizes)?,
            false => vec![0; sizes.len()],
        };
        // A rank whose loss is not finite, or whose step fails, tells the
        // others through the all-reduce, so that every rank stops at the
        // same step instead of waiting for it.
        let (grads, mut loss_sum, failure) =
            match self.local_gradients(task, batches, (&sizes, &offsets), vars) {
                Ok((grads, loss_sum)) => (grads, loss_sum, None),
                Err(e) if distributed => (None, 0.0, Some(e)),
                Err(e) => return Err(e),
            };
        let mut grads = match grads {
            Some(g) => g,
            // An empty store, for the all-reduce to fill.
            None if distributed => Tensor::new(0f64, &candle_core::Device::Cpu)?.backward()?,
            None => return Ok(()),
        };
        for (name, v) in vars {
            if self.params.is_frozen(name) {
                grads.remove(v.as_tensor());
            }
        }
        if distributed {
            let trainable: Vec<&candle_core::Var> = vars
                .iter()
                .filter(|(n, _)| !self.params.is_frozen(n))
                .map(|(_, v)| v)
                .collect();
            let local = distributed::Share {
                examples: total,
                loss_sum,
                failed: failure.is_some(),
            };
            let reduced = distributed::average_gradients(
                self.collective.as_ref(),
                &mut grads,
                &trainable,
                local,
            )
            .map_err(|e| Error::Config(format!("step {step}: {e}")));
            if let Some(e) = failure {
                return Err(e);
            }
            (total, loss_sum) = reduced?;
        }
        for (name, v) in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let s = scalar(&g.abs()?.sum_all()?)?;
                if !s.is_finite() {
                    return Err(non_finite(step, format!("gradient of {name}"), s));
                }
            }
        }
        let grad_norm = match self.config.clip_norm {
            Some(max) => Some(clip::clip_grad_norm(&mut grads, vars, max)?),
            None => None,
        };
        if let Some(limit) = self.config.clip_value {
            clip::clip_grad_value(&mut grads, vars, limit)?;
        }
        let lr = self.config.schedule.rate(self.base_lr, step);
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Config(format!(
                "step {step}: the schedule gives a learning rate of {lr}"
            )));
        }
        self.optimizer.set_learning_rate(lr);
        self.optimizer.step(&grads)?;
        self.state.step += 1;
        self.state.batch += batches.len() as u64;
        self.state.epoch_loss_sum += loss_sum;
        self.state.epoch_examples += total as u64;
        let event = StepEvent {
            step,
            epoch,
            loss: loss_sum / total.max(1) as f64,
            lr,
            grad_norm,
        };
        self.on_step.iter_mut().for_each(|h| h(&event));
        let mut callbacks = std::mem::take(&mut self.callbacks);
        let controls: Vec<Control> = callbacks.iter_mut().map(|c| c.on_step(&event)).collect();
        self.callbacks = callbacks;
        for control in controls {
            self.stop_requested |= self.obey(control)?;
        }
        if let Some(every) = self.config.checkpoint_every {
            if self.state.step.is_multiple_of(every.max(1)) {
                self.write_checkpoint()?;
            }
        }
        Ok(())
    }

    /// The gradients of `batches` (each weighted by its share of the
    /// examples) and their summed loss; an error at the first loss that is
    /// not finite.
    fn local_gradients<B, T: Task<B>>(
        &self,
        task: &T,
        batches: &[B],
        (sizes, offsets): (&[usize], &[u64]),
        vars: &[(String, candle_core::Var)],
    ) -> Result<(Option<GradStore>, f64)> {
        let step = self.state.step;
        let total: usize = sizes.iter().sum();
        let (mut grads, mut loss_sum) = (None::<GradStore>, 0.0);
        for ((batch, &size), &offset) in batches.iter().zip(sizes).zip(offsets) {
            // Random masks are drawn by the batch's rows in the global batch.
            seq_core::rng::set_row_offset(offset);
            let loss = task.loss(batch, Mode::Train);
            seq_core::rng::set_row_offset(0);
            let loss = loss?;
            let value = scalar(&loss)?;
            if !value.is_finite() {
                return Err(non_finite(step, "loss", value));
            }
            loss_sum += value * size as f64;
            let weight = size as f64 / total.max(1) as f64;
            let g = match batches.len() {
                1 => loss.backward()?,
                _ => (loss * weight)?.backward()?,
            };
            grads = Some(match grads {
                None => g,
                Some(mut sum) => {
                    for (_, v) in vars {
                        if let Some(gv) = g.get(v.as_tensor()) {
                            let added = match sum.get(v.as_tensor()) {
                                Some(prev) => (prev + gv)?,
                                None => gv.clone(),
                            };
                            sum.insert(v.as_tensor(), added);
                        }
                    }
                    sum
                }
            });
        }
        Ok((grads, loss_sum))
    }

    /// Writes the checkpoint, if one is configured.
    fn write_checkpoint(&self) -> Result<()> {
        if self.collective.rank() != 0 {
            return Ok(()); // only rank 0 writes
        }
        if let Some(path) = &self.config.checkpoint {
            checkpoint::stage(
                path,
                &self.params,
                self.optimizer.state()?,
                &self.state,
                self.best_weights.as_deref(),
            )?
            .commit()?;
            tracing::info!(path = %path.display(), step = self.state.step, "checkpoint written");
        }
        Ok(())
    }

    /// Records the epoch, updates early stopping, writes the checkpoint and
    /// logs. Returns whether to stop.
    fn end_epoch(&mut self, record: Vec<(String, f64)>) -> Result<bool> {
        let epoch = self.state.epoch;
        if !self.quiet() {
            let parts: Vec<String> = record
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "seconds" | "lr" | "data_wait_s"))
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect();
            let wait = record.metric("data_wait_s").unwrap_or(0.0);
            println!(
                "epoch {}/{}: {}  (waited {wait:.2} s for data)",
                epoch + 1,
                self.config.epochs,
                parts.join("  ")
            );
        }
        let mut stop = false;
        if let Some(es) = &self.config.early_stopping {
            let value = record.metric(&es.monitor).ok_or_else(|| {
                Error::Config(format!(
                    "early stopping monitors {:?}, which this run does not record",
                    es.monitor
                ))
            })?;
            if es.improves(value, self.state.best) {
                self.state.best = Some(value);
                self.state.bad_epochs = 0;
                self.best_weights = Some(
                    self.params
                        .named_vars()
                        .into_iter()
                        .map(|(n, v)| Ok((n, v.as_tensor().copy()?)))
                        .collect::<Result<_>>()?,
                );
            } else {
                self.state.bad_epochs += 1;
                stop = self.state.bad_epochs >= es.patience;
                if stop {
                    tracing::info!(epoch = epoch + 1, monitor = %es.monitor, best = ?self.state.best, "early stop");
                }
            }
        }
        tracing::info!(epoch = epoch + 1, step = self.state.step, metrics = ?record, "epoch end");
        self.on_epoch.iter_mut().for_each(|h| h(epoch, &record));
        let mut callbacks = std::mem::take(&mut self.callbacks);
        let base_lr = self.base_lr;
        let controls: Vec<Control> = callbacks
            .iter_mut()
            .map(|c| c.on_epoch(epoch, &record, base_lr))
            .collect();
        self.callbacks = callbacks;
        for control in controls {
            stop |= self.obey(control)?;
        }
        stop |= std::mem::take(&mut self.stop_requested);
        self.history.epochs.push(record);
        self.state.epoch += 1;
        (
            self.state.batch,
            self.state.epoch_loss_sum,
            self.state.epoch_examples,
        ) = (0, 0.0, 0);
        self.state.history = self.history.to_state();
        self.write_checkpoint()?;
        if let Some(dir) = &self.config.log_dir {
            if self.collective.rank() == 0 {
                log::write_all(dir, &self.history)?;
            }
        }
        Ok(stop)
    }
}

/// The error of a non-finite loss or gradient, also sent as a `tracing`
/// warning.
fn non_finite(step: u64, what: impl Into<String>, value: f64) -> Error {
    let what = what.into();
    tracing::warn!(step, what = %what, value, "not finite: training stops");
    Error::NonFinite { step, what, value }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}
