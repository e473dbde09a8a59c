//! Data read as it is needed, for corpora larger than memory: lines and
//! table records streamed from disk, a seeded shuffle buffer, length
//! buckets inside a window, and shards (byte ranges of a file) so that each
//! worker or process reads its own part.
//!
//! A shard is a byte range; a line or record belongs to the shard in which
//! it starts, so the shards of a file together read every line once
//! (Hadoop's rule). A table's shards all read the header from the file's
//! start. A quoted field that holds a newline may not cross a shard's
//! start (the shard would begin inside it).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use seq_core::Rng;

use crate::{Error, Result};

/// `n` byte ranges of about equal size covering the file at `path`.
pub fn shards(path: &Path, n: usize) -> Result<Vec<Range<u64>>> {
    let len = std::fs::metadata(path).map_err(Error::io(path))?.len();
    let n = n.max(1) as u64;
    Ok((0..n).map(|i| len * i / n..len * (i + 1) / n).collect())
}

/// A buffered reader at the first line that starts in `range`.
fn open_at(path: &Path, range: &Range<u64>) -> Result<(BufReader<File>, u64)> {
    let file = File::open(path).map_err(Error::io(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut at = range.start;
    if at > 0 {
        // The line that holds byte `start - 1` belongs to the shard before.
        reader
            .seek(SeekFrom::Start(at - 1))
            .map_err(Error::io(path))?;
        let mut skipped = Vec::new();
        let n = reader
            .read_until(b'\n', &mut skipped)
            .map_err(Error::io(path))?;
        at += n as u64 - 1;
    }
    Ok((reader, at))
}

/// The lines of a text file (or of a shard of it), read as they are
/// needed: the file is never held whole. A byte-order mark at the file's
/// start and line ends (`\n`, `\r\n`) are dropped; a line that is not
/// UTF-8 is an error naming the file and the line (or, in a shard that does
/// not start the file, its byte offset).
pub struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    /// The offset of the next line, and where the shard ends.
    at: u64,
    end: u64,
    /// The next line's number, when the stream started at the file's start.
    line: Option<usize>,
    buf: Vec<u8>,
}

impl Lines {
    /// Every line of the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::shard(path, 0..u64::MAX)
    }

    /// The lines that start in `range` of the file at `path`.
    pub fn shard(path: &Path, range: Range<u64>) -> Result<Self> {
        let (reader, at) = open_at(path, &range)?;
        Ok(Lines {
            reader,
            path: path.to_path_buf(),
            at,
            end: range.end,
            line: (range.start == 0).then_some(1),
            buf: Vec::new(),
        })
    }

    fn next_line(&mut self) -> Result<Option<String>> {
        if self.at >= self.end {
            return Ok(None);
        }
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(Error::io(&self.path))?;
        if n == 0 {
            return Ok(None);
        }
        let start = self.at;
        self.at += n as u64;
        let mut bytes = &self.buf[..];
        if start == 0 && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bytes = &bytes[3..];
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let where_ = match self.line {
            Some(l) => format!("{}:{l}", self.path.display()),
            None => format!("{} (byte {start})", self.path.display()),
        };
        if let Some(l) = self.line.as_mut() {
            *l += 1;
        }
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| Error::Config(format!("{where_}: not valid UTF-8")))
    }
}

impl Iterator for Lines {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        self.next_line().transpose()
    }
}

/// The records of a CSV or TSV file with a header (or of a shard of it),
/// streamed: each as its fields, in the header's order. Rows with another
/// number of fields than the header are errors naming the file and line
/// (the line within the file when the stream starts it, else the byte).
pub struct Records {
    reader: csv::Reader<BufReader<File>>,
    path: PathBuf,
    headers: Vec<String>,
    /// Where the stream's reader started in the file, and where the shard ends.
    base: u64,
    end: u64,
    from_start: bool,
}

impl Records {
    /// Every record of the file at `path`.
    pub fn open(path: &Path, delimiter: u8) -> Result<Self> {
        Self::shard(path, delimiter, 0..u64::MAX)
    }

    /// The records that start in `range` of the file at `path` (the header
    /// is always the file's first line).
    pub fn shard(path: &Path, delimiter: u8, range: Range<u64>) -> Result<Self> {
        let mut first = Lines::open(path)?;
        let header = match first.next() {
            Some(h) => h?,
            None => return Err(Error::parse(path, 1, None, "an empty file: no header")),
        };
        let header_end = first.at;
        let headers = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .from_reader(header.as_bytes())
            .records()
            .next()
            .transpose()
            .map_err(|e| Error::parse(path, 1, None, e.to_string()))?
            .map(|r| r.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        let range = range.start.max(header_end)..range.end;
        let (reader, base) = open_at(path, &range)?;
        Ok(Records {
            reader: csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .flexible(true)
                .from_reader(reader),
            path: path.to_path_buf(),
            headers,
            base,
            end: range.end,
            from_start: range.start == header_end,
        })
    }

    /// The header's column names.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The index of the column called `name`; an error naming the file
    /// and the columns it has.
    pub fn column(&self, name: &str) -> Result<usize> {
        crate::readers::text::column(&self.path, &self.headers, name)
    }
}

impl Iterator for Records {
    type Item = Result<Vec<String>>;

    fn next(&mut self) -> Option<Result<Vec<String>>> {
        let mut record = csv::StringRecord::new();
        let read = self.reader.read_record(&mut record);
        let at = |r: &csv::StringRecord| r.position().map_or(0, |p| p.byte());
        match read {
            Err(e) => Some(Err(Error::Config(format!("{}: {e}", self.path.display())))),
            Ok(false) => None,
            Ok(true) if self.base + at(&record) >= self.end => None,
            Ok(true) if record.len() != self.headers.len() => {
                let place = match self.from_start {
                    // The header is line 1; the reader counts from line 1 too.
                    true => format!(
                        "{}:{}",
                        self.path.display(),
                        1 + record.position().map_or(0, |p| p.line())
                    ),
                    false => format!("{} (byte {})", self.path.display(), self.base + at(&record)),
                };
                Some(Err(Error::Config(format!(
                    "{place}: {} fields, the header has {}",
                    record.len(),
                    self.headers.len()
                ))))
            }
            Ok(true) => Some(Ok(record.iter().map(str::to_owned).collect())),
        }
    }
}

/// A seeded shuffle of a stream through a buffer of `capacity` items
/// (TensorFlow's `shuffle(buffer_size)`): the buffer fills, then each item
/// out is drawn at random from it and replaced by the next item in. Larger
/// buffers mix more; a buffer as large as the data is a full shuffle.
pub struct ShuffleBuffer<I: Iterator> {
    input: I,
    buffer: Vec<I::Item>,
    capacity: usize,
    rng: Rng,
}

impl<I: Iterator> ShuffleBuffer<I> {
    /// Shuffles `input` through `capacity` items (at least 1) with `seed`.
    pub fn new(input: I, capacity: usize, seed: u64) -> Self {
        ShuffleBuffer {
            input,
            buffer: Vec::new(),
            capacity: capacity.max(1),
            rng: Rng::new(seed),
        }
    }
}

impl<I: Iterator> Iterator for ShuffleBuffer<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        while self.buffer.len() < self.capacity {
            match self.input.next() {
                Some(item) => self.buffer.push(item),
                None => break,
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let i = self.rng.below(self.buffer.len());
        Some(self.buffer.swap_remove(i))
    }
}

/// Batches of `batch_size` items with similar lengths, from a stream: each
/// window of `window` batches' worth of items is sorted by `length`, cut
/// into batches, and the batches of the window are shuffled (seeded), so
/// little is padding and the order still varies. The last batch of the
/// stream may be shorter.
pub struct Buckets<I: Iterator, F> {
    input: I,
    length: F,
    batch_size: usize,
    window: usize,
    ready: Vec<Vec<I::Item>>,
    rng: Rng,
}

impl<I: Iterator, F: Fn(&I::Item) -> usize> Buckets<I, F> {
    /// Buckets `input` by `length` into batches of `batch_size` (at least
    /// 1), `window` batches (at least 1) at a time, shuffled with `seed`.
    pub fn new(input: I, batch_size: usize, window: usize, length: F, seed: u64) -> Self {
        Buckets {
            input,
            length,
            batch_size: batch_size.max(1),
            window: window.max(1),
            ready: Vec::new(),
            rng: Rng::new(seed),
        }
    }
}

impl<I: Iterator, F: Fn(&I::Item) -> usize> Iterator for Buckets<I, F> {
    type Item = Vec<I::Item>;

    fn next(&mut self) -> Option<Vec<I::Item>> {
        if self.ready.is_empty() {
            let mut items: Vec<I::Item> = self
                .input
                .by_ref()
                .take(self.batch_size.saturating_mul(self.window))
                .collect();
            if items.is_empty() {
                return None;
            }
            items.sort_by_key(|x| (self.length)(x));
            let mut batches = Vec::new();
            while !items.is_empty() {
                let rest = items.split_off(self.batch_size.min(items.len()));
                batches.push(std::mem::replace(&mut items, rest));
            }
            self.rng.shuffle(&mut batches);
            self.ready = batches;
        }
        self.ready.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("seq-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn the_shards_of_a_file_read_every_line_once() {
        let text: String = (0..200)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 13)))
            .collect();
        let p = temp("lines.txt", format!("\u{feff}{text}").as_bytes());
        let all: Vec<String> = Lines::open(&p).unwrap().map(Result::unwrap).collect();
        assert_eq!(all.len(), 200);
        assert_eq!(all[0], "line 0 ");
        for n in [1, 2, 3, 7, 64] {
            let mut joined = Vec::new();
            for range in shards(&p, n).unwrap() {
                joined.extend(Lines::shard(&p, range).unwrap().map(Result::unwrap));
            }
            assert_eq!(joined, all, "{n} shards");
        }
    }

    #[test]
    fn table_records_stream_and_shard_with_the_header() {
        let mut text = String::from("label\ttext\n");
        for i in 0..100 {
            text.push_str(&format!("{}\t\"review {i}, \"\"quoted\"\"\"\n", i % 2));
        }
        let p = temp("t.tsv", text.as_bytes());
        let all: Vec<Vec<String>> = Records::open(&p, b'\t')
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(all.len(), 100);
        assert_eq!(all[3], ["1", "review 3, \"quoted\""]);
        for n in [2, 5] {
            let mut joined = Vec::new();
            for range in shards(&p, n).unwrap() {
                let r = Records::shard(&p, b'\t', range).unwrap();
                assert_eq!(r.headers(), ["label", "text"]);
                joined.extend(r.map(Result::unwrap));
            }
            assert_eq!(joined, all, "{n} shards");
        }
        let bad = temp("bad.tsv", b"a\tb\n1\t2\n3\n");
        let err = Records::open(&bad, b'\t')
            .unwrap()
            .nth(1)
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("bad.tsv:3"), "{err}");
    }

    #[test]
    fn the_shuffle_buffer_permutes_with_its_seed() {
        let shuffled = |seed| ShuffleBuffer::new(0..100, 16, seed).collect::<Vec<_>>();
        let a = shuffled(1);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        assert_eq!(a, shuffled(1));
        assert_ne!(a, shuffled(2));
    }

    #[test]
    fn buckets_group_similar_lengths() {
        let items: Vec<usize> = ShuffleBuffer::new(0..96, 96, 3).collect();
        let batches: Vec<Vec<usize>> = Buckets::new(items.into_iter(), 8, 4, |x| *x, 5).collect();
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 96);
        for b in &batches {
            let spread = b.iter().max().unwrap() - b.iter().min().unwrap();
            assert!(spread < 32, "a window of 32 sorted items: {b:?}");
        }
    }
}
