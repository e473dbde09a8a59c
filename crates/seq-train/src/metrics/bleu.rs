//! Corpus BLEU (Papineni et al., 2002) computed as sacreBLEU computes it
//! (Post, 2018) with its defaults: the `13a` tokenizer (mteval-v13a), case
//! kept, n-grams up to 4, the brevity penalty against the closest reference
//! length, and `exp` smoothing of zero n-gram matches.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

/// The score and its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Bleu {
    /// BLEU in `[0, 100]`.
    pub score: f64,
    /// The modified n-gram precisions in percent, n = 1..=4.
    pub precisions: [f64; 4],
    /// The brevity penalty.
    pub brevity_penalty: f64,
    /// Tokens in the hypotheses.
    pub hyp_len: usize,
    /// Tokens in the closest references.
    pub ref_len: usize,
}

/// sacreBLEU's `13a` tokenizer.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    static RULES: OnceLock<[(Regex, &str); 4]> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("a fixed pattern");
        [
            // symbols and punctuation but period, comma and dash
            (re(r"([\{-\~\[-` -\&\(-\+:-@/])"), " $1 "),
            // period and comma unless preceded by a digit
            (re(r"([^0-9])([\.,])"), "$1 $2 "),
            // period and comma unless followed by a digit
            (re(r"([\.,])([^0-9])"), " $1 $2"),
            // dash preceded by a digit
            (re(r"([0-9])(-)"), "$1 $2 "),
        ]
    });
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, rep) in rules {
        line = re.replace_all(&line, *rep).into_owned();
    }
    line.split_whitespace().map(str::to_owned).collect()
}

fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    if tokens.len() >= n {
        for g in tokens.windows(n) {
            *counts.entry(g).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU of `hypotheses` against one or more reference streams
/// (`references[k][i]` is the k-th reference of hypothesis `i`).
pub fn corpus_bleu(hypotheses: &[&str], references: &[Vec<&str>]) -> Result<Bleu, String> {
    if let Some(bad) = references.iter().position(|r| r.len() != hypotheses.len()) {
        return Err(format!(
            "reference stream {bad} has {} lines for {} hypotheses",
            references[bad].len(),
            hypotheses.len()
        ));
    }
    let (mut correct, mut total) = ([0usize; 4], [0usize; 4]);
    let (mut hyp_len, mut ref_len) = (0, 0);
    for (i, hyp) in hypotheses.iter().enumerate() {
        let h = tokenize_13a(hyp);
        let refs: Vec<Vec<String>> = references.iter().map(|r| tokenize_13a(r[i])).collect();
        hyp_len += h.len();
        // The closest reference length, the shorter on a tie.
        ref_len += refs
            .iter()
            .map(|r| r.len())
            .min_by_key(|&l| ((l as isize - h.len() as isize).abs(), l))
            .unwrap_or(0);
        for n in 1..=4 {
            let mut max_ref: HashMap<&[String], usize> = HashMap::new();
            for r in &refs {
                for (g, c) in ngrams(r, n) {
                    let e = max_ref.entry(g).or_insert(0);
                    *e = (*e).max(c);
                }
            }
            for (g, c) in ngrams(&h, n) {
                correct[n - 1] += c.min(*max_ref.get(g).unwrap_or(&0));
                total[n - 1] += c;
            }
        }
    }
    let mut precisions = [0.0; 4];
    let mut smooth = 1.0;
    for n in 0..4 {
        if total[n] == 0 {
            break;
        }
        precisions[n] = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
    }
    let brevity_penalty = if hyp_len == 0 {
        0.0
    } else if hyp_len >= ref_len {
        1.0
    } else {
        (1.0 - ref_len as f64 / hyp_len as f64).exp()
    };
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let score = if hyp_len == 0 {
        0.0
    } else {
        brevity_penalty * (precisions.iter().map(|&p| log(p)).sum::<f64>() / 4.0).exp()
    };
    Ok(Bleu {
        score,
        precisions,
        brevity_penalty,
        hyp_len,
        ref_len,
    })
}
