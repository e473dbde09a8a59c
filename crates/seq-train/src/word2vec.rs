//! Word vectors learned from any text: word2vec's skip-gram with negative
//! sampling (Mikolov et al., 2013), as its reference implementation trains
//! it.
//!
//! Every word `w` has an input vector `v_w` and an output vector `u_w`. For
//! a word `w` and a context word `c` within a window around it, and `k`
//! words `n_1..n_k` drawn from the unigram distribution raised to 3/4, the
//! loss is
//!
//! ```text
//! L = -log sigma(u_w . v_c) - sum_i log sigma(-u_{n_i} . v_c)
//! ```
//!
//! and each pair takes one step of stochastic gradient descent on it, the
//! rate falling linearly to nothing over the run. Frequent words are
//! dropped at random (kept with probability `(sqrt(f / t) + 1) t / f` for
//! a word of frequency `f`), and each word's window is drawn from
//! `1..=window`, so near words count more. One thread and one seed: the
//! same corpus and configuration give the same vectors, bit for bit.
//!
//! The input vectors are the word vectors; [`WordVectors::save`] writes
//! them in word2vec's text format, which
//! `seq_data::vectors::read_vectors` reads back.

use std::collections::HashMap;
use std::path::Path;

use seq_core::{Error, Result, Rng};

/// The settings of a skip-gram run; word2vec's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Word2VecConfig {
    /// Width of the vectors.
    pub dim: usize,
    /// The most words either side of a word that count as its context
    /// (default 5).
    pub window: usize,
    /// Negative words drawn per pair (default 5).
    pub negatives: usize,
    /// Words seen fewer times are left out (default 5).
    pub min_count: usize,
    /// Passes over the corpus (default 5).
    pub epochs: usize,
    /// The starting learning rate (default 0.025).
    pub lr: f64,
    /// The subsampling threshold `t` (default 1e-3; 0 keeps every word).
    pub subsample: f64,
    /// Seed of the initial vectors, the windows, the subsampling and the
    /// negative words (default 0).
    pub seed: u64,
}

impl Word2VecConfig {
    /// Vectors `dim` wide with word2vec's other defaults.
    pub fn new(dim: usize) -> Self {
        Word2VecConfig {
            dim,
            window: 5,
            negatives: 5,
            min_count: 5,
            epochs: 5,
            lr: 0.025,
            subsample: 1e-3,
            seed: 0,
        }
    }

    /// With a context window.
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window;
        self
    }

    /// With `k` negative words per pair.
    pub fn with_negatives(mut self, k: usize) -> Self {
        self.negatives = k;
        self
    }

    /// With a minimum count.
    pub fn with_min_count(mut self, n: usize) -> Self {
        self.min_count = n;
        self
    }

    /// With a number of passes.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// With a starting learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// With a subsampling threshold (0: none).
    pub fn with_subsample(mut self, t: f64) -> Self {
        self.subsample = t;
        self
    }

    /// With a seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::config("Word2VecConfig", what));
        if self.dim == 0 || self.window == 0 || self.epochs == 0 || self.min_count == 0 {
            return bad(format!(
                "dim, window, epochs and min_count must be positive, got {}, {}, {}, {}",
                self.dim, self.window, self.epochs, self.min_count
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(self.subsample.is_finite() && self.subsample >= 0.0) {
            return bad(format!(
                "subsample must be 0 or more, got {}",
                self.subsample
            ));
        }
        Ok(())
    }
}

/// Learned word vectors: `words[i]`'s vector is row `i` of `vectors`.
#[derive(Debug, Clone, PartialEq)]
pub struct WordVectors {
    /// The vocabulary, most frequent first.
    pub words: Vec<String>,
    /// `[words, dim]` row-major.
    pub vectors: Vec<f32>,
    /// The width of a vector.
    pub dim: usize,
}

impl WordVectors {
    /// Trains skip-gram with negative sampling on `sentences` (each a list
    /// of tokens; a context never crosses from one sentence to the next).
    ///
    /// # Errors
    /// A bad configuration, or no word seen `min_count` times.
    pub fn train(config: &Word2VecConfig, sentences: &[Vec<String>]) -> Result<Self> {
        config.check()?;
        let vocab = Vocab::count(sentences, config.min_count)?;
        let corpus: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| {
                s.iter()
                    .filter_map(|w| vocab.index.get(w.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut model = SkipGram::new(vocab.words.len(), config)?;
        let total = vocab.total as f64 * config.epochs as f64;
        let keep: Vec<f64> = vocab
            .counts
            .iter()
            .map(|&n| {
                let f = n as f64 / vocab.total as f64;
                match config.subsample > 0.0 {
                    true => ((f / config.subsample).sqrt() + 1.0) * config.subsample / f,
                    false => 1.0,
                }
            })
            .collect();
        let noise = Noise::new(&vocab.counts);
        let mut rng = Rng::new(config.seed.wrapping_add(1));
        let mut seen = 0usize;
        let mut sentence = Vec::new();
        for _ in 0..config.epochs {
            for words in &corpus {
                seen += words.len();
                let lr = (config.lr * (1.0 - seen as f64 / (total + 1.0))).max(config.lr * 1e-4);
                sentence.clear();
                sentence.extend(
                    words
                        .iter()
                        .copied()
                        .filter(|&w| keep[w as usize] >= 1.0 || rng.uniform() < keep[w as usize]),
                );
                for (i, &w) in sentence.iter().enumerate() {
                    let b = 1 + rng.below(config.window);
                    let lo = i.saturating_sub(b);
                    let hi = (i + b).min(sentence.len() - 1);
                    for (j, &c) in sentence.iter().enumerate().take(hi + 1).skip(lo) {
                        if j != i {
                            model.step(c, w, &noise, &mut rng, lr as f32);
                        }
                    }
                }
            }
        }
        Ok(WordVectors {
            words: vocab.words,
            vectors: model.input,
            dim: config.dim,
        })
    }

    /// The vector of `word`, if it is in the vocabulary.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        let i = self.words.iter().position(|w| w == word)?;
        Some(&self.vectors[i * self.dim..(i + 1) * self.dim])
    }

    /// The `k` words whose vectors have the largest cosine with `word`'s,
    /// with their cosines, closest first; `None` for a word not in the
    /// vocabulary.
    pub fn nearest(&self, word: &str, k: usize) -> Option<Vec<(String, f32)>> {
        let v = self.get(word)?;
        let norm = |x: &[f32]| {
            x.iter()
                .map(|a| a * a)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE)
        };
        let nv = norm(v);
        let mut scored: Vec<(String, f32)> = self
            .words
            .iter()
            .zip(self.vectors.chunks(self.dim))
            .filter(|(w, _)| w.as_str() != word)
            .map(|(w, x)| {
                let dot: f32 = x.iter().zip(v).map(|(a, b)| a * b).sum();
                (w.clone(), dot / (norm(x) * nv))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(k);
        Some(scored)
    }

    /// Writes the vectors in word2vec's text format (a `count dim` line,
    /// then `word v1 ... vdim` per word), atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut text = format!("{} {}\n", self.words.len(), self.dim);
        for (w, v) in self.words.iter().zip(self.vectors.chunks(self.dim)) {
            text += w;
            for x in v {
                text += &format!(" {x}");
            }
            text.push('\n');
        }
        seq_core::fs::write_atomic(path.as_ref(), text.as_bytes())
    }
}

/// The words kept, their counts (most frequent first; ties by the word),
/// and the number of word occurrences they make.
struct Vocab {
    words: Vec<String>,
    counts: Vec<u64>,
    index: HashMap<String, u32>,
    total: u64,
}

impl Vocab {
    fn count(sentences: &[Vec<String>], min_count: usize) -> Result<Self> {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for w in sentences.iter().flatten() {
            *counts.entry(w.as_str()).or_default() += 1;
        }
        let mut kept: Vec<(&str, u64)> = counts
            .into_iter()
            .filter(|&(_, n)| n >= min_count as u64)
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        if kept.is_empty() || kept.len() > u32::MAX as usize {
            return Err(Error::config(
                "word2vec",
                format!(
                    "{} words are seen at least min_count = {min_count} times",
                    kept.len()
                ),
            ));
        }
        Ok(Vocab {
            index: kept
                .iter()
                .enumerate()
                .map(|(i, (w, _))| (w.to_string(), i as u32))
                .collect(),
            total: kept.iter().map(|(_, n)| n).sum(),
            counts: kept.iter().map(|(_, n)| *n).collect(),
            words: kept.into_iter().map(|(w, _)| w.to_string()).collect(),
        })
    }
}

/// The noise distribution: word `i` with probability proportional to
/// `count_i^(3/4)`, drawn by bisecting the cumulative weights.
struct Noise {
    cumulative: Vec<f64>,
}

impl Noise {
    fn new(counts: &[u64]) -> Self {
        let mut sum = 0.0;
        let cumulative = counts
            .iter()
            .map(|&n| {
                sum += (n as f64).powf(0.75);
                sum
            })
            .collect();
        Noise { cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.uniform() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        i.min(self.cumulative.len() - 1) as u32
    }
}

/// The two tables of vectors and one pair's update.
struct SkipGram {
    dim: usize,
    negatives: usize,
    /// `v`: the word vectors, `U(-0.5, 0.5) / dim` at first.
    input: Vec<f32>,
    /// `u`: zeros at first.
    output: Vec<f32>,
    /// The input vector's accumulated step.
    grad: Vec<f32>,
}

impl SkipGram {
    fn new(words: usize, c: &Word2VecConfig) -> Result<Self> {
        let n = seq_core::memory::elements("word2vec", &[words, c.dim])?;
        let mut rng = Rng::new(c.seed);
        let mut input = seq_core::memory::with_capacity("word2vec", n)?;
        input.extend((0..n).map(|_| ((rng.uniform() - 0.5) / c.dim as f64) as f32));
        let output = seq_core::memory::filled("word2vec", n, 0.0)?;
        Ok(SkipGram {
            dim: c.dim,
            negatives: c.negatives,
            input,
            output,
            grad: vec![0.0; c.dim],
        })
    }

    /// One step of SGD on the loss of the context word `c` predicting
    /// `w` against `k` noise words: with `s = sigma(u . v_c)` and the label
    /// `y` (1 for `w`, 0 for noise), `u -= lr (s - y) v_c` and
    /// `v_c -= lr sum (s - y) u` (with `u` before its own step).
    fn step(&mut self, c: u32, w: u32, noise: &Noise, rng: &mut Rng, lr: f32) {
        let d = self.dim;
        let vc = c as usize * d;
        self.grad.iter_mut().for_each(|g| *g = 0.0);
        for k in 0..=self.negatives {
            let (target, label) = match k {
                0 => (w, 1.0),
                _ => match noise.draw(rng) {
                    n if n == w => continue,
                    n => (n, 0.0),
                },
            };
            let ut = target as usize * d;
            let (v, u) = (&self.input[vc..vc + d], &mut self.output[ut..ut + d]);
            let dot: f32 = v.iter().zip(u.iter()).map(|(a, b)| a * b).sum();
            let g = lr * (label - sigmoid(dot));
            for ((gr, ui), &vi) in self.grad.iter_mut().zip(u.iter_mut()).zip(v) {
                *gr += g * *ui;
                *ui += g * vi;
            }
        }
        let v = &mut self.input[vc..vc + d];
        v.iter_mut().zip(&self.grad).for_each(|(vi, g)| *vi += g);
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &[&str]) -> Vec<Vec<String>> {
        text.iter()
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .collect()
    }

    /// One update equals a step of `lr` down the gradient of the pair's
    /// loss, the gradient taken by central differences in f64.
    #[test]
    fn a_step_follows_the_loss_gradient() {
        let c = Word2VecConfig::new(4).with_negatives(2);
        let mut m = SkipGram::new(5, &c).unwrap();
        let mut rng = Rng::new(1);
        m.output
            .iter_mut()
            .for_each(|u| *u = (rng.uniform() - 0.5) as f32);
        // The noise words the step will draw (the same generator state): a
        // seed whose two draws differ from each other and from the target,
        // so the step is one plain gradient step.
        let noise = Noise::new(&[5, 4, 3, 2, 1]);
        let draws = |seed: u64| {
            let mut probe = Rng::new(seed);
            [noise.draw(&mut probe), noise.draw(&mut probe)]
        };
        let seed = (0..)
            .find(|&s| matches!(draws(s), [a, b] if a != b && a != 3 && b != 3))
            .unwrap();
        let drawn = draws(seed);
        let (cw, w) = (1usize, 3usize);
        let loss = |input: &[f64], output: &[f64]| {
            let dot = |a: usize, b: usize| {
                (0..4)
                    .map(|i| input[a * 4 + i] * output[b * 4 + i])
                    .sum::<f64>()
            };
            let ls = |x: f64| -(1.0 + (-x).exp()).ln();
            -ls(dot(cw, w)) - drawn.iter().map(|&n| ls(-dot(cw, n as usize))).sum::<f64>()
        };
        let (input, output): (Vec<f64>, Vec<f64>) = (
            m.input.iter().map(|&x| f64::from(x)).collect(),
            m.output.iter().map(|&x| f64::from(x)).collect(),
        );
        let lr = 0.1;
        m.step(cw as u32, w as u32, &noise, &mut Rng::new(seed), lr as f32);
        let h = 1e-6;
        let fd = |table: usize, i: usize| {
            let (mut a, mut b) = (input.clone(), output.clone());
            let t = if table == 0 { &mut a } else { &mut b };
            t[i] += h;
            let up = loss(&a, &b);
            let t = if table == 0 { &mut a } else { &mut b };
            t[i] -= 2.0 * h;
            (up - loss(&a, &b)) / (2.0 * h)
        };
        // The context's input vector moves by -lr dL/dv_c (every output
        // vector's gradient taken at the old values).
        for i in 0..4 {
            let want = input[cw * 4 + i] - lr * fd(0, cw * 4 + i);
            assert!(
                (f64::from(m.input[cw * 4 + i]) - want).abs() < 1e-6,
                "v_c[{i}]"
            );
        }
        // The target's output vector, likewise.
        for i in 0..4 {
            let want = output[w * 4 + i] - lr * fd(1, w * 4 + i);
            assert!(
                (f64::from(m.output[w * 4 + i]) - want).abs() < 1e-6,
                "u_w[{i}]"
            );
        }
    }

    /// Two topics whose words never share a sentence: each word's nearest
    /// neighbours are words of its own topic.
    #[test]
    fn words_that_share_contexts_end_up_close() {
        let mut rng = Rng::new(3);
        let mut text = Vec::new();
        for _ in 0..600 {
            let topic = if rng.uniform() < 0.5 { "a" } else { "b" };
            let s: Vec<String> = (0..8).map(|_| format!("{topic}{}", rng.below(6))).collect();
            text.push(s.join(" "));
        }
        let refs: Vec<&str> = text.iter().map(String::as_str).collect();
        let c = Word2VecConfig::new(16).with_window(3).with_subsample(0.0);
        let v = WordVectors::train(&c, &sentences(&refs)).unwrap();
        assert_eq!(v.words.len(), 12);
        for w in ["a0", "b3"] {
            let near = v.nearest(w, 5).unwrap();
            assert!(near.iter().all(|(n, _)| n[..1] == w[..1]), "{w}: {near:?}");
        }
        // The same seed gives the same vectors; another seed other ones.
        assert_eq!(WordVectors::train(&c, &sentences(&refs)).unwrap(), v);
        assert_ne!(
            WordVectors::train(&c.with_seed(1), &sentences(&refs)).unwrap(),
            v
        );
    }

    #[test]
    fn bad_settings_and_empty_vocabularies_are_errors() {
        let s = sentences(&["a b c"]);
        assert!(WordVectors::train(&Word2VecConfig::new(0), &s).is_err());
        assert!(WordVectors::train(&Word2VecConfig::new(4).with_lr(f64::NAN), &s).is_err());
        let err = WordVectors::train(&Word2VecConfig::new(4), &s)
            .unwrap_err()
            .to_string();
        assert!(err.contains("min_count"), "{err}");
    }
}
