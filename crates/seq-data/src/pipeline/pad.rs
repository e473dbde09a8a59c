//! Padding and truncation to one length, with the mask, as Keras'
//! `pad_sequences`.

use candle_core::{Device, Tensor};
use seq_core::{memory, Seq};

use crate::Result;

/// Where padding goes, or where truncation cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    /// Before the sequence.
    Pre,
    /// After it (default: real steps first, as seq's masks expect).
    #[default]
    Post,
}

/// Sequences brought to one length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Padded {
    /// `[batch * time]` ids, row by row.
    pub ids: Vec<u32>,
    /// `[batch * time]`: 1 real, 0 padding.
    pub mask: Vec<u8>,
    /// Rows.
    pub batch: usize,
    /// Steps per row.
    pub time: usize,
}

impl Padded {
    /// The ids as a [`Seq`] of token ids `[batch, time]` with its mask.
    pub fn to_seq(&self, device: &Device) -> Result<Seq> {
        let ids = Tensor::from_vec(self.ids.clone(), (self.batch, self.time), device)?;
        let mask = Tensor::from_vec(self.mask.clone(), (self.batch, self.time), device)?;
        Ok(Seq::from_ids(ids)?.with_mask(mask)?)
    }
}

/// Pads (with `value`) or truncates every sequence to `max_len` (the longest
/// when `None`), padding on `padding`'s side and cutting on `truncating`'s.
/// A `max_len` whose batch cannot be allocated is an error, not an abort.
pub fn pad_sequences(
    seqs: &[&[u32]],
    max_len: Option<usize>,
    padding: Side,
    truncating: Side,
    value: u32,
) -> seq_core::Result<Padded> {
    let time = max_len.unwrap_or_else(|| seqs.iter().map(|s| s.len()).max().unwrap_or(0));
    let n = memory::elements("pad_sequences", &[seqs.len(), time])?;
    let mut ids = memory::with_capacity("pad_sequences", n)?;
    let mut mask = memory::with_capacity("pad_sequences", n)?;
    for s in seqs {
        let kept = if s.len() <= time {
            *s
        } else if truncating == Side::Pre {
            &s[s.len() - time..]
        } else {
            &s[..time]
        };
        let pad = time - kept.len();
        let (before, after) = if padding == Side::Pre {
            (pad, 0)
        } else {
            (0, pad)
        };
        ids.extend(
            std::iter::repeat_n(value, before)
                .chain(kept.iter().copied())
                .chain(std::iter::repeat_n(value, after)),
        );
        mask.extend(
            std::iter::repeat_n(0, before)
                .chain(std::iter::repeat_n(1, kept.len()))
                .chain(std::iter::repeat_n(0, after)),
        );
    }
    Ok(Padded {
        ids,
        mask,
        batch: seqs.len(),
        time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_pad_sequences_semantics() {
        let a: &[u32] = &[1, 2, 3];
        let b: &[u32] = &[4];
        let p = pad_sequences(&[a, b], Some(2), Side::Pre, Side::Pre, 0).unwrap();
        assert_eq!(p.ids, vec![2, 3, 0, 4]);
        assert_eq!(p.mask, vec![1, 1, 0, 1]);
        let p = pad_sequences(&[a, b], None, Side::Post, Side::Post, 9).unwrap();
        assert_eq!((p.ids, p.time), (vec![1, 2, 3, 4, 9, 9], 3));
        let p = pad_sequences(&[a], Some(2), Side::Post, Side::Post, 0).unwrap();
        assert_eq!(p.ids, vec![1, 2]);
    }
}
