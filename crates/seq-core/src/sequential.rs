//! [`Sequential`]: layers applied one after the other.

use std::fmt;

use crate::{Mode, Module, Result, Seq};

/// A stack of layers applied in order, like Keras' `Sequential` and
/// PyTorch's `nn.Sequential`. The mask flows from each layer to the next.
///
/// ```
/// # use seq_core::{Activation, Linear, LinearConfig, Params, Sequential};
/// # fn main() -> seq_core::Result<()> {
/// let params = Params::new(0);
/// let vb = params.var_builder(candle_core::DType::F32, &candle_core::Device::Cpu);
/// let mlp = Sequential::new()
///     .add(Linear::new(LinearConfig::new(8, 16), vb.pp("0"))?)
///     .add(Activation::Relu)
///     .add(Linear::new(LinearConfig::new(16, 2), vb.pp("2"))?);
/// assert_eq!(mlp.len(), 3);
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    names: Vec<String>,
}

impl Sequential {
    /// An empty stack (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer; its `Display` shows in this stack's. Named `add` as
    /// in Keras, though it is a builder method, not `std::ops::Add`.
    #[allow(clippy::should_implement_trait)]
    pub fn add<M: Module + fmt::Display + 'static>(mut self, layer: M) -> Self {
        self.names.push(layer.to_string());
        self.layers.push(Box::new(layer));
        self
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when the stack has no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, xs: &Seq, mode: Mode) -> Result<Seq> {
        let mut xs = xs.clone();
        for layer in &self.layers {
            xs = layer.forward(&xs, mode)?;
        }
        Ok(xs)
    }
}

impl fmt::Display for Sequential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Sequential(")?;
        for (i, name) in self.names.iter().enumerate() {
            writeln!(f, "  ({i}): {name}")?;
        }
        write!(f, ")")
    }
}
