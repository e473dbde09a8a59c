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
/// a file that is not UTF-8, or a label folder whose name is not, is an
/// error naming it. A byte-order mark at the start of a file is dropped.
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
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: a label folder's name is not UTF-8",
                    label_dir.display()
                ))
            })?
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
            let text = read_corpus(&file)?;
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
/// quoted fields holding delimiters or newlines (`""` inside quotes is a
/// quote). It refuses what would otherwise be read as garbage: a quoted
/// field that is never closed (it would swallow the rest of the file) and
/// a row with more or fewer fields than the header.
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
        if let Some(line) = unclosed_quote(&bytes, delimiter) {
            return Err(Error::parse(
                path,
                line,
                None,
                "a quoted field opens here and is never closed (a stray `\"`?)",
            ));
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
        column(&self.path, &self.headers, name)
    }

    /// Every record with its line; each has as many fields as the header,
    /// and there is at least one (a header alone is an error).
    pub fn rows(&mut self) -> Result<Vec<(usize, csv::StringRecord)>> {
        let mut out = Vec::new();
        for record in self.reader.records() {
            let record = record.map_err(|e| csv_error(&self.path, e))?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            if record.len() != self.headers.len() {
                return Err(Error::parse(
                    &self.path,
                    line,
                    None,
                    format!(
                        "{} fields, the header has {}",
                        record.len(),
                        self.headers.len()
                    ),
                ));
            }
            out.push((line, record));
        }
        if out.is_empty() {
            return Err(Error::parse(&self.path, 1, None, "a header and no rows"));
        }
        Ok(out)
    }
}

/// The index of the column `name` among `headers` (line 1 of `path`); an
/// error naming the file and the columns it has.
pub(crate) fn column(path: &Path, headers: &[String], name: &str) -> Result<usize> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        Error::parse(
            path,
            1,
            None,
            format!("no column {name:?}; the header has {headers:?}"),
        )
    })
}

/// The line on which a quoted field opens that is never closed, by the
/// `csv` crate's rules: a quote opens a field only at its start; inside, a
/// doubled quote is a quote and a single one closes it.
fn unclosed_quote(bytes: &[u8], delimiter: u8) -> Option<usize> {
    let (mut line, mut opened) = (1, None);
    let mut at_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match opened {
            Some(_) if b == b'"' && bytes.get(i + 1) == Some(&b'"') => i += 1,
            Some(_) if b == b'"' => opened = None,
            None if b == b'"' && at_start => opened = Some(line),
            _ => {}
        }
        if b == b'\n' {
            line += 1;
        }
        at_start = opened.is_none() && (b == delimiter || b == b'\n' || b == b'\r');
        i += 1;
    }
    opened
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
        .rows()?
        .into_iter()
        .map(|(_, r)| Labelled {
            text: r[t].to_string(),
            label: r[l].to_string(),
        })
        .collect())
}

/// Reads one column of a CSV (`delimiter` b',') or TSV (b'\t') with a
/// header: the texts of a corpus kept in a table.
pub fn read_column(path: &Path, delimiter: u8, column: &str) -> Result<Vec<String>> {
    let mut table = Table::open(path, delimiter)?;
    let c = table.column(column)?;
    Ok(table
        .rows()?
        .into_iter()
        .map(|(_, r)| r[c].to_string())
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
        .rows()?
        .into_iter()
        .map(|(_, r)| (r[s].to_string(), r[t].to_string()))
        .collect())
}

/// Reads a plain UTF-8 text corpus (character- or word-level language
/// modelling); invalid UTF-8 is an error naming the line. A byte-order mark
/// at the start is dropped.
pub fn read_corpus(path: &Path) -> Result<String> {
    let mut bytes = std::fs::read(path).map_err(Error::io(path))?;
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        Error::parse(path, line, None, "not valid UTF-8")
    })
}
