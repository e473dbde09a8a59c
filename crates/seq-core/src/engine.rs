//! [`Engine`]: a fused CPU op or its composed reference.

/// How a layer with a fused CPU op computes: the op (the default) or the
/// composition of candle ops it replaces.
///
/// Every fused op of seq (the recurrence, convolution, attention, layer
/// norm, softmax, GELU) is one candle custom op with its own backward, on
/// the CPU in f32 and f64; other devices and dtypes take the composed path
/// whatever the engine. The composed path is the reference the fused one is
/// tested against, and the one to pick when debugging a gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Engine {
    /// The fused op where it applies (default).
    #[default]
    Fused,
    /// The composition of candle ops.
    Composed,
}
