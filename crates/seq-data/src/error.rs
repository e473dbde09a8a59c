//! The error type of seq-data: every malformed input names its file, line
//! and, where it can, column.

use std::path::{Path, PathBuf};

/// A seq-data result.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong between a file and a batch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed file: where and why.
    #[error("{}:{line}{}: {message}", path.display(), column.map(|c| format!(":{c}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based field or character), when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The tokenizers crate failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The hub (or its local cache) could not provide a file.
    #[error("hub: {0}")]
    Hub(String),

    /// A request that cannot be met (bad sizes, an empty data set...).
    #[error("{0}")]
    Config(String),

    /// An error from seq-core.
    #[error(transparent)]
    Core(#[from] seq_core::Error),

    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    pub(crate) fn parse(
        path: &Path,
        line: usize,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
