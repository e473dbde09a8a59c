//! Pretrained word vectors (word2vec, Mikolov et al., 2013; GloVe,
//! Pennington et al., 2014) into embedding weights for a vocabulary.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use seq_core::Rng;

use crate::{Error, Result, Tokenizer};

/// The file formats of pretrained vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    /// word2vec text: a `count dim` header line, then `word v1 ... vdim` lines.
    Word2VecText,
    /// word2vec binary: the same header, then `word ` and `dim` little-endian f32s per word.
    Word2VecBinary,
    /// GloVe text: `word v1 ... vdim` lines, no header.
    Glove,
}

/// What vocabulary words without a pretrained vector get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unknown {
    /// Zeros.
    Zero,
    /// `U(-scale, scale)` drawn with `seed`.
    Random {
        /// Half-width.
        scale: f64,
        /// Seed.
        seed: u64,
    },
}

/// Vectors read for a vocabulary.
#[derive(Debug, Clone)]
pub struct Pretrained {
    /// `[vocab_size, dim]`: row `i` is the vector of id `i` (row 0, padding, is zeros).
    pub weights: Tensor,
    /// Vocabulary words that had a vector.
    pub found: usize,
    /// Vocabulary size (special tokens included).
    pub vocab_size: usize,
}

impl Pretrained {
    /// `found / vocab_size`.
    pub fn coverage(&self) -> f64 {
        self.found as f64 / self.vocab_size.max(1) as f64
    }
}

/// Reads all vectors of a file: word to vector.
///
/// Refused, with the file and line: a vector with a value that is not a
/// finite number, a vector of another length than the others (or than the
/// header's), an empty vector, a word2vec header whose count or size the
/// file does not hold. A UTF-8 byte-order mark at the start is skipped.
pub fn read_vectors(path: &Path, format: VectorFormat) -> Result<HashMap<String, Vec<f32>>> {
    let mut bytes = std::fs::read(path).map_err(Error::io(path))?;
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    let mut out = HashMap::new();
    let mut dim = None;
    match format {
        VectorFormat::Word2VecBinary => {
            let header_end = bytes
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| Error::parse(path, 1, None, "no header line"))?;
            let (count, d) = header(path, &String::from_utf8_lossy(&bytes[..header_end]))?;
            // Each entry is at least a one-byte word, a space and 4 * d bytes.
            let entry = d.checked_mul(4).and_then(|b| b.checked_add(2));
            if entry
                .and_then(|e| e.checked_mul(count))
                .is_none_or(|n| n > bytes.len())
            {
                return Err(Error::parse(
                    path,
                    1,
                    None,
                    format!(
                        "the header promises {count} vectors of {d} values; the file has {} bytes",
                        bytes.len()
                    ),
                ));
            }
            let mut at = header_end + 1;
            for n in 0..count {
                let space = bytes[at..]
                    .iter()
                    .position(|&b| b == b' ')
                    .ok_or_else(|| Error::parse(path, n + 2, None, "a word without its vector"))?;
                let word = String::from_utf8_lossy(&bytes[at..at + space])
                    .trim()
                    .to_string();
                at += space + 1;
                let end = at + 4 * d; // at most bytes.len() + 4 * d, checked above
                let raw = bytes.get(at..end).ok_or_else(|| {
                    Error::parse(path, n + 2, None, format!("vector of {word:?} cut short"))
                })?;
                let v: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if let Some(c) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::parse(
                        path,
                        n + 2,
                        None,
                        format!("value {} of {word:?} is {}", c + 1, v[c]),
                    ));
                }
                out.insert(word, v);
                at = end;
                if bytes.get(at) == Some(&b'\n') {
                    at += 1;
                }
            }
        }
        VectorFormat::Word2VecText | VectorFormat::Glove => {
            let text =
                String::from_utf8(bytes).map_err(|_| Error::parse(path, 1, None, "not UTF-8"))?;
            let mut lines = text.lines().enumerate();
            let mut count = None;
            if format == VectorFormat::Word2VecText {
                let (_, first) = lines
                    .next()
                    .ok_or_else(|| Error::parse(path, 1, None, "empty file"))?;
                let (c, d) = header(path, first)?;
                (count, dim) = (Some(c), Some(d));
            }
            let mut seen = 0usize;
            for (i, line) in lines {
                if line.trim().is_empty() {
                    continue;
                }
                let mut fields = line.split(' ').filter(|f| !f.is_empty());
                let word = fields.next().unwrap_or_default().to_string();
                let v = fields
                    .enumerate()
                    .map(|(c, f)| {
                        crate::readers::finite::<f32>(f).ok_or_else(|| {
                            Error::parse(
                                path,
                                i + 1,
                                Some(c + 2),
                                format!("not a finite number: {f:?}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<f32>>>()?;
                if v.is_empty() {
                    return Err(Error::parse(
                        path,
                        i + 1,
                        None,
                        format!("{word:?} has no vector"),
                    ));
                }
                match dim {
                    Some(d) if d != v.len() => {
                        return Err(Error::parse(
                            path,
                            i + 1,
                            None,
                            format!("{} values, expected {d}", v.len()),
                        ))
                    }
                    None => dim = Some(v.len()),
                    _ => {}
                }
                out.insert(word, v);
                seen += 1;
            }
            if let Some(c) = count.filter(|&c| c != seen) {
                return Err(Error::parse(
                    path,
                    1,
                    None,
                    format!("the header promises {c} vectors, the file has {seen}"),
                ));
            }
        }
    }
    Ok(out)
}

fn header(path: &Path, line: &str) -> Result<(usize, usize)> {
    let p: Vec<usize> = line
        .split_whitespace()
        .map(|v| v.parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::parse(path, 1, None, "the header must be `count dim`"))?;
    match p.as_slice() {
        [_, 0] => Err(Error::parse(path, 1, None, "vectors of 0 values")),
        [c, d] => Ok((*c, *d)),
        _ => Err(Error::parse(
            path,
            1,
            None,
            "the header must be `count dim`",
        )),
    }
}

/// Embedding weights `[vocab, dim]` for `tokenizer`'s vocabulary from the
/// vectors in `path`; the padding row is zeros, words without a vector get
/// `unknown`, and the coverage is reported.
pub fn pretrained_embeddings(
    path: &Path,
    format: VectorFormat,
    tokenizer: &Tokenizer,
    unknown: Unknown,
) -> Result<Pretrained> {
    let vectors = read_vectors(path, format)?;
    let dim = vectors
        .values()
        .next()
        .map(Vec::len)
        .ok_or_else(|| Error::Config(format!("{}: no vectors", path.display())))?;
    let n = tokenizer.vocab_size();
    let mut rng = match unknown {
        Unknown::Random { seed, .. } => Some(Rng::new(seed)),
        Unknown::Zero => None,
    };
    let size = seq_core::memory::elements("pretrained_embeddings", &[n, dim])?;
    let mut weights = seq_core::memory::with_capacity("pretrained_embeddings", size)?;
    let mut found = 0;
    for id in 0..n as u32 {
        let token = tokenizer.id_to_token(id).unwrap_or_default();
        match vectors.get(&token) {
            Some(v) if id != 0 => {
                found += 1;
                weights.extend(v.iter().map(|&x| x as f64));
            }
            _ => weights.extend((0..dim).map(|_| match (&mut rng, unknown, id) {
                (_, _, 0) => 0.0,
                (Some(r), Unknown::Random { scale, .. }, _) => r.uniform_in(-scale, scale),
                _ => 0.0,
            })),
        }
    }
    Ok(Pretrained {
        weights: Tensor::from_vec(weights, (n, dim), &Device::Cpu)?
            .to_dtype(candle_core::DType::F32)?,
        found,
        vocab_size: n,
    })
}
