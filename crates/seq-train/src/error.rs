//! The error type of seq-train.

use std::path::PathBuf;

/// A seq-train result.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The loss or a gradient stopped being finite; training stops and the
    /// last checkpoint written stays as it was.
    #[error("step {step}: {what} is not finite ({value}); training stopped, the last checkpoint is kept")]
    NonFinite {
        /// The global step (0-based) at which it happened.
        step: u64,
        /// `loss` or `gradient of <parameter>`.
        what: String,
        /// The value seen (NaN or inf).
        value: f64,
    },

    /// A checkpoint that cannot be read or does not fit the model.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A configuration that cannot work (an empty data set, a zero batch...).
    #[error("{0}")]
    Config(String),

    /// An error from a layer or from seq-core.
    #[error(transparent)]
    Core(#[from] seq_core::Error),

    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
