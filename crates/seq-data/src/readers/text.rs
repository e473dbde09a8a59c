//! Labelled text and sentence pairs: a folder per label (the IMDB
//! `aclImdb` layout), CSV/TSV with named columns, Tatoeba-style pairs, and
//! plain text corpora.

use std::path::Path;

use crate::{Error, Result};

/// A text and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The text.
    pub text: String,
    /// The label, as written.
    pub label: String,
}

/// Reads `dir/<label>/<any file>`: one example per file, the folder's name
/// its label (IMDB's `train/pos/*.txt` layout). Hidden files are skipped;
/// a file that is not UTF-8 is an error naming it.
pub fn read_label_folders(dir: &Path) -> Result<Vec<Labelled>> {
    let mut out = Vec::new();
    let mut labels: Vec<_> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    labels.sort();
    for label_dir in labels {
        let label = label_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if label.starts_with('.') {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&label_dir)
            .map_err(Error::io(&label_dir))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            if file
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            let bytes = std::fs::read(&file).map_err(Error::io(&file))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::parse(&file, 1, None, format!("not UTF-8: {e}")))?;
            out.push(Labelled {
                text,
                label: label.clone(),
            });
        }
    }
    if out.is_empty() {
        return Err(Error::Config(format!(
            "{}: no label folders with files",
            dir.display()
        )));
    }
    Ok(out)
}

/// A CSV or TSV reader that handles a UTF-8 byte-order mark, CRLF and
/// quoted fields holding delimiters or newlines.
pub(crate) struct Table {
    pub path: std::path::PathBuf,
    pub headers: Vec<String>,
    pub reader: csv::Reader<std::io::Cursor<Vec<u8>>>,
}

impl Table {
    pub fn open(path: &Path, delimiter: u8) -> Result<Self> {
        let mut bytes = std::fs::read(path).map_err(Error::io(path))?;
        if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bytes.drain(..3);
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(std::io::Cursor::new(bytes));
        let headers = reader
            .headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(str::to_owned)
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            headers,
            reader,
        })
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::parse(
                &self.path,
                1,
                None,
                format!("no column {name:?}; the header has {:?}", self.headers),
            )
        })
    }

    /// Every record with its line, the fields named by `columns` present.
    pub fn rows(&mut self, columns: &[usize]) -> Result<Vec<(usize, csv::StringRecord)>> {
        let mut out = Vec::new();
        for record in self.reader.records() {
            let record = record.map_err(|e| csv_error(&self.path, e))?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            if let Some(&missing) = columns.iter().find(|&&c| c >= record.len()) {
                return Err(Error::parse(
                    &self.path,
                    line,
                    Some(missing + 1),
                    format!(
                        "{} fields, but column {} is needed",
                        record.len(),
                        missing + 1
                    ),
                ));
            }
            out.push((line, record));
        }
        Ok(out)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line() as usize);
    Error::parse(path, line, None, e.to_string())
}

/// Reads a CSV (`delimiter` b',') or TSV (b'\t') with a header, taking the
/// text and label from the columns so named.
pub fn read_labelled_table(
    path: &Path,
    delimiter: u8,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<Labelled>> {
    let mut table = Table::open(path, delimiter)?;
    let (t, l) = (table.column(text_column)?, table.column(label_column)?);
    Ok(table
        .rows(&[t, l])?
        .into_iter()
        .map(|(_, r)| Labelled {
            text: r[t].to_string(),
            label: r[l].to_string(),
        })
        .collect())
}

/// Reads tab-separated sentence pairs with a header (Tatoeba's layout;
/// other columns ignored): `(source, target)` from the named columns.
pub fn read_pairs(
    path: &Path,
    source_column: &str,
    target_column: &str,
) -> Result<Vec<(String, String)>> {
    let mut table = Table::open(path, b'\t')?;
    let (s, t) = (table.column(source_column)?, table.column(target_column)?);
    Ok(table
        .rows(&[s, t])?
        .into_iter()
        .map(|(_, r)| (r[s].to_string(), r[t].to_string()))
        .collect())
}

/// Reads a plain UTF-8 text corpus (character- or word-level language
/// modelling); invalid UTF-8 is an error naming the line.
pub fn read_corpus(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        Error::parse(path, line, None, "not valid UTF-8")
    })
}
