//! Properties of the CTC loss and its decoders, against brute force over
//! every path of small inputs.

use std::collections::BTreeMap;

use candle_core::D;
use proptest::prelude::*;
use seq::train::ctc::{self, CtcLoss, Reduction};

use crate::support::normal;

/// Every path over `time` steps of `classes` classes.
fn paths(time: usize, classes: usize) -> Vec<Vec<u32>> {
    (0..classes.pow(time as u32))
        .map(|mut k| {
            (0..time)
                .map(|_| {
                    let c = (k % classes) as u32;
                    k /= classes;
                    c
                })
                .collect()
        })
        .collect()
}

/// A path read as CTC reads it (repeats merged, blanks dropped).
fn read(path: &[u32], blank: u32) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for (i, &c) in path.iter().enumerate() {
        if c != blank && (i == 0 || path[i - 1] != c) {
            out.push(c);
        }
    }
    out
}

/// `p(l | x)` for every label sequence `l` that some path reads.
fn label_probabilities(lp: &[Vec<f64>], blank: u32) -> BTreeMap<Vec<u32>, f64> {
    let mut probs = BTreeMap::new();
    for path in paths(lp.len(), lp[0].len()) {
        let p: f64 = path
            .iter()
            .enumerate()
            .map(|(t, &c)| lp[t][c as usize])
            .sum::<f64>()
            .exp();
        *probs.entry(read(&path, blank)).or_insert(0.0) += p;
    }
    probs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The loss is minus the log of the summed probability of the paths
    /// that read the label: infinite when none does; and the probabilities
    /// of all label sequences sum to 1.
    #[test]
    fn loss_is_the_sum_over_paths(
        time in 1usize..6, classes in 2usize..4, seed in 0u64..1000,
        label in proptest::collection::vec(0u32..8, 0..4), blank_last in any::<bool>(),
    ) {
        let blank = if blank_last { classes as u32 - 1 } else { 0 };
        // Labels drawn among the classes other than the blank.
        let others: Vec<u32> = (0..classes as u32).filter(|&c| c != blank).collect();
        let label: Vec<u32> = label.iter().map(|&l| others[l as usize % others.len()]).collect();
        let lp = candle_nn::ops::log_softmax(&normal(seed, &[1, time, classes]), D::Minus1).unwrap();
        let steps = lp.squeeze(0).unwrap().to_vec2::<f64>().unwrap();
        let probs = label_probabilities(&steps, blank);
        prop_assert!((probs.values().sum::<f64>() - 1.0).abs() < 1e-12);
        let loss = CtcLoss::new().with_blank(blank).with_reduction(Reduction::Sum)
            .loss(&lp, &[time], std::slice::from_ref(&label)).unwrap().to_scalar::<f64>().unwrap();
        match probs.get(&label) {
            Some(p) => prop_assert!((loss + p.ln()).abs() < 1e-12 * loss.abs().max(1.0), "{} vs {}", loss, -p.ln()),
            None => prop_assert_eq!(loss, f64::INFINITY),
        }
    }

    /// A beam wide enough to keep every prefix finds the most probable
    /// label sequence; greedy decoding reads the most probable path.
    #[test]
    fn decoders_find_what_brute_force_finds(
        time in 1usize..6, classes in 2usize..4, seed in 0u64..1000, scale in 0.5f64..4.0,
    ) {
        let lp = candle_nn::ops::log_softmax(&(normal(seed, &[1, time, classes]) * scale).unwrap(), D::Minus1).unwrap();
        let steps = lp.squeeze(0).unwrap().to_vec2::<f64>().unwrap();
        let probs = label_probabilities(&steps, 0);
        let (best, p_best) = probs.iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        let found = ctc::beam(&lp, &[time], 0, 1000).unwrap().remove(0);
        // Ties aside, the same sequence; in any case one just as probable.
        prop_assert!((probs[&found] - p_best).abs() < 1e-12, "beam {:?} vs {:?}", found, best);
        let path: Vec<u32> = steps.iter().map(|row| {
            (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap() as u32
        }).collect();
        prop_assert_eq!(ctc::greedy(&lp, &[time], 0).unwrap().remove(0), read(&path, 0));
    }

    /// Input that is blank at every step decodes to nothing, whatever the
    /// other classes do, by either decoder, for any beam width.
    #[test]
    fn blank_only_input_decodes_to_nothing(
        batch in 1usize..4, time in 1usize..12, classes in 2usize..6, seed in 0u64..1000,
        width in 1usize..8,
    ) {
        let noise = normal(seed, &[batch, time, classes]);
        let blank = noise.zeros_like().unwrap().narrow(2, 0, 1).unwrap().affine(0.0, 40.0).unwrap();
        let rest = noise.narrow(2, 1, classes - 1).unwrap();
        let lp = candle_nn::ops::log_softmax(&candle_core::Tensor::cat(&[&blank, &rest], 2).unwrap(), D::Minus1).unwrap();
        let lengths = vec![time; batch];
        for decoded in [ctc::greedy(&lp, &lengths, 0).unwrap(), ctc::beam(&lp, &lengths, 0, width).unwrap()] {
            prop_assert!(decoded.iter().all(Vec::is_empty), "{:?}", decoded);
        }
    }
}
