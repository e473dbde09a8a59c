//! Reading label sequences out of CTC outputs: best path (greedy) and
//! prefix beam search.

use std::collections::BTreeMap;

use candle_core::{DType, Tensor, D};
use seq_core::{Error, Result};

use super::lattice::log_add;

/// Best-path decoding: the most likely class at each of the first
/// `lengths[b]` steps, read as CTC reads a path (repeats merged, then
/// blanks dropped). Input that is blank at every step decodes to nothing.
///
/// # Parameters
/// - `log_probs` `[batch, time, classes]` (probabilities or logits work
///   too: only the order of the classes at each step matters).
/// - `lengths`: the real steps of each sequence (at most `time`).
/// - `blank`: the blank class.
pub fn greedy(log_probs: &Tensor, lengths: &[usize], blank: u32) -> Result<Vec<Vec<u32>>> {
    check(log_probs, lengths, blank, "ctc::greedy")?;
    let best = log_probs.argmax(D::Minus1)?.to_vec2::<u32>()?;
    Ok(best
        .iter()
        .zip(lengths)
        .map(|(path, &len)| collapse(&path[..len], blank))
        .collect())
}

/// A path read as CTC reads it: repeated classes merged, then blanks dropped.
fn collapse(path: &[u32], blank: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut previous = None;
    for &c in path {
        if Some(c) != previous && c != blank {
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

/// Prefix beam search (Hannun et al., 2014, without a language model): the
/// `width` most probable label prefixes are kept at each step, each with
/// the probability of the paths that read it and end in a blank and of
/// those that end in its last label, so that paths reading the same labels
/// are summed rather than competing. Returns the most probable sequence of
/// each input; with `width` 1 it is close to, but not always the same as,
/// [`greedy`] (which follows single paths).
///
/// # Parameters
/// - `log_probs` `[batch, time, classes]`: log probabilities per step.
/// - `lengths`: the real steps of each sequence (at most `time`).
/// - `blank`: the blank class; `width`: prefixes kept (at least 1).
pub fn beam(
    log_probs: &Tensor,
    lengths: &[usize],
    blank: u32,
    width: usize,
) -> Result<Vec<Vec<u32>>> {
    check(log_probs, lengths, blank, "ctc::beam")?;
    if width == 0 {
        return Err(Error::config(
            "ctc::beam",
            "width must be at least 1, got 0",
        ));
    }
    let lp = log_probs.to_dtype(DType::F64)?.to_vec3::<f64>()?;
    Ok(lp
        .iter()
        .zip(lengths)
        .map(|(steps, &len)| search(&steps[..len], blank, width))
        .collect())
}

/// Log probabilities of a prefix's paths: ending in a blank, ending in its
/// last label.
#[derive(Clone, Copy)]
struct Ends {
    blank: f64,
    label: f64,
}

impl Ends {
    const NONE: Ends = Ends {
        blank: f64::NEG_INFINITY,
        label: f64::NEG_INFINITY,
    };

    fn total(self) -> f64 {
        log_add(self.blank, self.label)
    }
}

/// The beam search over one sequence's steps `[len][classes]`.
fn search(steps: &[Vec<f64>], blank: u32, width: usize) -> Vec<u32> {
    let mut beams: Vec<(Vec<u32>, Ends)> = vec![(
        Vec::new(),
        Ends {
            blank: 0.0,
            label: f64::NEG_INFINITY,
        },
    )];
    for step in steps {
        // A BTreeMap, not a HashMap: ties are broken the same way every run.
        let mut next: BTreeMap<Vec<u32>, Ends> = BTreeMap::new();
        for (prefix, ends) in &beams {
            let stay = next.entry(prefix.clone()).or_insert(Ends::NONE);
            stay.blank = log_add(stay.blank, ends.total() + step[blank as usize]);
            for (c, &p) in step.iter().enumerate() {
                let c = c as u32;
                if c == blank {
                    continue;
                }
                if prefix.last() == Some(&c) {
                    // Repeating the last label without a blank between
                    // merges into the same prefix; after a blank it extends.
                    let stay = next.entry(prefix.clone()).or_insert(Ends::NONE);
                    stay.label = log_add(stay.label, ends.label + p);
                    extend(&mut next, prefix, c, ends.blank + p);
                } else {
                    extend(&mut next, prefix, c, ends.total() + p);
                }
            }
        }
        let mut ranked: Vec<(Vec<u32>, Ends)> = next.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total().total_cmp(&a.1.total()));
        ranked.truncate(width);
        beams = ranked;
    }
    beams.swap_remove(0).0
}

/// Adds `log_p` to the label-ending paths of `prefix` followed by `c`.
fn extend(next: &mut BTreeMap<Vec<u32>, Ends>, prefix: &[u32], c: u32, log_p: f64) {
    let mut longer = prefix.to_vec();
    longer.push(c);
    let e = next.entry(longer).or_insert(Ends::NONE);
    e.label = log_add(e.label, log_p);
}

fn check(log_probs: &Tensor, lengths: &[usize], blank: u32, op: &str) -> Result<()> {
    let &[batch, time, classes] = log_probs.dims() else {
        return Err(Error::shape(
            op,
            "log_probs",
            "[batch, time, classes]",
            log_probs.dims(),
        ));
    };
    if lengths.len() != batch {
        return Err(Error::config(
            op,
            format!("{batch} sequences, {} lengths", lengths.len()),
        ));
    }
    if let Some(len) = lengths.iter().find(|&&l| l > time) {
        return Err(Error::config(
            op,
            format!("length {len} is longer than the {time} steps"),
        ));
    }
    if blank as usize >= classes {
        return Err(Error::config(
            op,
            format!("blank {blank} is not one of the {classes} classes"),
        ));
    }
    Ok(())
}
