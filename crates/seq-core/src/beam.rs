//! Beam search for any autoregressive decoder, recurrent or Transformer:
//! the decoder holds `sources * width` rows of state (row `b * width + w`
//! is beam `w` of source `b`) and answers two requests, the next-token log
//! probabilities of every row and a reordering of its rows; the search
//! keeps the `width` best prefixes of each source, sets aside those that
//! end in `eos`, and returns the best by score over a length penalty
//! (Wu et al., 2016: `((5 + len) / 6)^alpha`).

use candle_core::Tensor;

use crate::{Error, Result};

/// A decoded sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// The tokens, without the start and end tokens.
    pub tokens: Vec<u32>,
    /// `sum log p(token | prefix, source)`.
    pub score: f32,
}

/// The settings of [`beam_search`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BeamConfig {
    /// The start token every prefix begins with.
    pub bos: u32,
    /// The end token.
    pub eos: u32,
    /// The most tokens decoded.
    pub max_len: usize,
    /// Prefixes kept per source (at least 1).
    pub width: usize,
    /// Length penalty exponent (default 0: rank by the plain sum of log
    /// probabilities; larger values favour longer outputs, 0.6 is common).
    pub alpha: f32,
}

impl BeamConfig {
    /// From `bos`, at most `max_len` tokens or until `eos`, keeping `width`
    /// prefixes per source; no length penalty.
    pub fn new(bos: u32, eos: u32, max_len: usize, width: usize) -> Self {
        BeamConfig {
            bos,
            eos,
            max_len,
            width,
            alpha: 0.0,
        }
    }

    /// The length penalty exponent.
    pub fn with_alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }
}

/// What beam search asks of a decoder holding one row of state per beam.
pub trait BeamDecoder {
    /// Feeds `last[r]` (the newest token of row `r`, at position `pos` of
    /// its prefix) and returns each row's log probabilities of the next
    /// token, `[rows][vocab]`.
    fn step(&mut self, last: &[u32], pos: usize) -> Result<Vec<Vec<f32>>>;

    /// Reorders the rows: the new row `i` continues the old row `rows[i]`.
    fn reorder(&mut self, rows: &Tensor) -> Result<()>;
}

/// The rows of `t` (along dimension `dim`), each repeated `width` times in
/// place: the layout [`beam_search`] expects of per-source state.
pub fn repeat_rows(t: &Tensor, dim: usize, width: usize) -> candle_core::Result<Tensor> {
    let n = t.dim(dim)?;
    let rows: Vec<u32> = (0..n * width).map(|r| (r / width) as u32).collect();
    t.contiguous()?
        .index_select(&Tensor::from_vec(rows, n * width, t.device())?, dim)
}

/// Beam search over `sources` inputs whose decoder state `decoder` holds
/// `sources * config.width` rows (see [`repeat_rows`]).
///
/// # Returns
/// The best hypothesis of each source: among those that produced `eos`
/// (the first `width` to finish in the top ranks), or, when none did
/// within `max_len` tokens, among the live prefixes.
pub fn beam_search(
    decoder: &mut impl BeamDecoder,
    sources: usize,
    config: &BeamConfig,
    device: &candle_core::Device,
) -> Result<Vec<Hypothesis>> {
    let BeamConfig {
        bos,
        eos,
        max_len,
        width,
        alpha,
    } = *config;
    if width == 0 {
        return Err(Error::config("beam search", "width must be at least 1"));
    }
    let penalty = |len: usize| ((5.0 + len as f32) / 6.0).powf(alpha);
    // At the start only the first beam of each source is live: the others
    // would repeat it.
    let mut beams: Vec<(Vec<u32>, f32)> = (0..sources * width)
        .map(|r| {
            let score = if r % width == 0 {
                0.0
            } else {
                f32::NEG_INFINITY
            };
            (vec![bos], score)
        })
        .collect();
    let mut finished: Vec<Vec<(Vec<u32>, f32)>> = vec![Vec::new(); sources];
    for pos in 0..max_len {
        let last: Vec<u32> = beams.iter().map(|(t, _)| t[pos]).collect();
        let logp = decoder.step(&last, pos)?;
        let mut order = Vec::with_capacity(sources * width);
        let mut next = Vec::with_capacity(sources * width);
        for b in 0..sources {
            let mut cands: Vec<(f32, usize, u32)> = Vec::new();
            for w in 0..width {
                let score = beams[b * width + w].1;
                if score.is_finite() {
                    cands.extend(
                        logp[b * width + w]
                            .iter()
                            .enumerate()
                            .map(|(v, lp)| (score + lp, w, v as u32)),
                    );
                }
            }
            cands.sort_by(|a, c| c.0.total_cmp(&a.0));
            let mut live = Vec::with_capacity(width);
            for (rank, &(score, w, tok)) in cands.iter().enumerate() {
                if live.len() == width {
                    break;
                }
                let mut tokens = beams[b * width + w].0.clone();
                tokens.push(tok);
                if tok == eos {
                    if rank < width && finished[b].len() < width {
                        finished[b].push((tokens, score));
                    }
                } else {
                    live.push((tokens, score, b * width + w));
                }
            }
            while live.len() < width {
                live.push((vec![eos; pos + 2], f32::NEG_INFINITY, b * width));
            }
            for (tokens, score, row) in live {
                order.push(row as u32);
                next.push((tokens, score));
            }
        }
        decoder.reorder(&Tensor::from_vec(order, sources * width, device)?)?;
        beams = next;
        if finished.iter().all(|f| f.len() >= width) {
            break;
        }
    }
    let strip = |tokens: &[u32]| -> Vec<u32> {
        tokens[1..].iter().copied().filter(|&t| t != eos).collect()
    };
    Ok((0..sources)
        .map(|b| {
            let mut pool = finished[b].clone();
            if pool.is_empty() {
                pool.extend(
                    beams[b * width..(b + 1) * width]
                        .iter()
                        .filter(|(_, s)| s.is_finite())
                        .cloned(),
                );
            }
            let best = pool
                .into_iter()
                .max_by(|x, y| {
                    (x.1 / penalty(x.0.len() - 1)).total_cmp(&(y.1 / penalty(y.0.len() - 1)))
                })
                .unwrap_or((vec![bos], 0.0));
            Hypothesis {
                tokens: strip(&best.0),
                score: best.1,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoder whose next-token distribution depends only on the last
    /// token, from a fixed table: the best sequence can be found by hand.
    struct Table {
        logp: Vec<Vec<f32>>,
        reorders: usize,
    }

    impl BeamDecoder for Table {
        fn step(&mut self, last: &[u32], _pos: usize) -> Result<Vec<Vec<f32>>> {
            Ok(last
                .iter()
                .map(|&t| self.logp[t as usize].clone())
                .collect())
        }

        fn reorder(&mut self, _rows: &Tensor) -> Result<()> {
            self.reorders += 1;
            Ok(())
        }
    }

    /// Tokens: 0 = bos, 1 = eos, 2 and 3. From bos, 2 is likelier than 3,
    /// but 3 leads to eos with certainty while 2 hesitates: greedy takes
    /// 2, a beam of 2 finds that [3] is the better sequence.
    #[test]
    fn a_wider_beam_finds_the_better_sequence() {
        let ln = |p: f32| p.ln();
        let logp = vec![
            vec![f32::NEG_INFINITY, f32::NEG_INFINITY, ln(0.6), ln(0.4)],
            vec![f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, f32::NEG_INFINITY],
            vec![f32::NEG_INFINITY, ln(0.5), ln(0.25), ln(0.25)],
            vec![f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, f32::NEG_INFINITY],
        ];
        let dev = candle_core::Device::Cpu;
        let mut config = BeamConfig::new(0, 1, 5, 1);
        let mut t = Table {
            logp: logp.clone(),
            reorders: 0,
        };
        let greedy = beam_search(&mut t, 1, &config, &dev).unwrap();
        assert_eq!(greedy[0].tokens, vec![2]);
        assert!((greedy[0].score - (0.6f32 * 0.5).ln()).abs() < 1e-6);
        config.width = 2;
        let mut t = Table { logp, reorders: 0 };
        let best = beam_search(&mut t, 1, &config, &dev).unwrap();
        assert_eq!(best[0].tokens, vec![3]);
        assert!((best[0].score - 0.4f32.ln()).abs() < 1e-6);
        assert!(t.reorders >= 1);
        config.width = 0;
        assert!(beam_search(&mut t, 1, &config, &dev).is_err());
    }
}
