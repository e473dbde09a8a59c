//! The error type of seq-core, which every other seq crate wraps.

/// A seq-core result.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in seq-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor came in a shape the layer cannot take.
    ///
    /// Displays as `Lstm expected input [batch, time, 64], got [32, 100, 48]`.
    #[error("{layer} expected {what} {expected}, got {actual:?}")]
    Shape {
        /// The layer (or function) that refused the tensor.
        layer: String,
        /// Which tensor: `input`, `mask`, `initial state`, ...
        what: String,
        /// The shape it takes, with names for free dimensions: `[batch, time, 64]`.
        expected: String,
        /// The shape that came.
        actual: Vec<usize>,
    },

    /// A configuration that cannot build a layer (a zero size, a dropout
    /// probability outside `[0, 1)`, ...).
    #[error("{layer}: {message}")]
    Config {
        /// The layer being configured.
        layer: String,
        /// What is wrong, with the offending value.
        message: String,
    },

    /// A tensor of an element type the operation cannot take.
    #[error("{op} expected dtype {expected}, got {actual:?}")]
    DType {
        /// The operation.
        op: String,
        /// The dtype(s) it takes.
        expected: String,
        /// The dtype that came.
        actual: candle_core::DType,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A file whose contents cannot be used: not the format, a tensor
    /// missing or of the wrong shape, a value out of range.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, naming the entry at fault.
        message: String,
    },

    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// A shape error: `layer` expected `what` of shape `expected`, got `actual`.
    pub fn shape(
        layer: impl Into<String>,
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: &[usize],
    ) -> Self {
        Error::Shape {
            layer: layer.into(),
            what: what.into(),
            expected: expected.into(),
            actual: actual.to_vec(),
        }
    }

    /// An error in the contents of the file at `path`.
    pub fn file(path: impl Into<std::path::PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A configuration error for `layer`.
    pub fn config(layer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            layer: layer.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_error_names_layer_and_both_shapes() {
        let e = Error::shape("Lstm", "input", "[batch, time, 64]", &[32, 100, 48]);
        assert_eq!(
            e.to_string(),
            "Lstm expected input [batch, time, 64], got [32, 100, 48]"
        );
    }
}
