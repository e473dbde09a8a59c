//! Error rates of transcriptions: the edit (Levenshtein) distance between
//! a hypothesis and its reference, summed over a corpus and divided by the
//! references' total length, over characters (CER) or words (WER), as
//! speech recognition reports them.

/// The fewest insertions, deletions and substitutions that turn `hypothesis`
/// into `reference`.
pub fn edit_distance<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> usize {
    // One row of the dynamic programme: row[j] = distance(reference[..i], hypothesis[..j]).
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitute = diagonal + usize::from(r != h);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[hypothesis.len()]
}

/// Total edit distance over total reference length: `sum_i d(r_i, h_i) /
/// sum_i |r_i|` (0 for an empty corpus; it can exceed 1 when hypotheses
/// insert).
///
/// # Errors
/// When the two lists differ in length.
pub fn error_rate<T: PartialEq>(
    references: &[Vec<T>],
    hypotheses: &[Vec<T>],
) -> Result<f64, String> {
    if references.len() != hypotheses.len() {
        return Err(format!(
            "error_rate: {} references, {} hypotheses",
            references.len(),
            hypotheses.len()
        ));
    }
    let edits: usize = references
        .iter()
        .zip(hypotheses)
        .map(|(r, h)| edit_distance(r, h))
        .sum();
    let length: usize = references.iter().map(Vec::len).sum();
    Ok(if length == 0 {
        0.0
    } else {
        edits as f64 / length as f64
    })
}

/// Character error rate: [`error_rate`] over the characters of each line.
pub fn char_error_rate(references: &[&str], hypotheses: &[&str]) -> Result<f64, String> {
    let chars =
        |lines: &[&str]| -> Vec<Vec<char>> { lines.iter().map(|l| l.chars().collect()).collect() };
    error_rate(&chars(references), &chars(hypotheses))
}

/// Word error rate: [`error_rate`] over the whitespace-separated words of
/// each line.
pub fn word_error_rate(references: &[&str], hypotheses: &[&str]) -> Result<f64, String> {
    fn words<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
        lines
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect()
    }
    error_rate(&words(references), &words(hypotheses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_of_known_pairs() {
        let d = |a: &str, b: &str| edit_distance(a.as_bytes(), b.as_bytes());
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("flaw", "lawn"), 2);
        assert_eq!(d("same", "same"), 0);
    }

    #[test]
    fn rates_over_a_corpus() {
        // 1 substitution in 9 characters, plus 3 insertions in 3: 4 / 12.
        let cer = char_error_rate(&["one two a", "six"], &["one twa a", "sixsix"]).unwrap();
        assert!((cer - 4.0 / 12.0).abs() < 1e-15);
        // Words: "two" -> "twa" (1 of 3), "six" -> "sixsix" (1 of 1).
        let wer = word_error_rate(&["one two a", "six"], &["one twa a", "sixsix"]).unwrap();
        assert!((wer - 2.0 / 4.0).abs() < 1e-15);
        assert!(error_rate::<u8>(&[vec![1]], &[]).is_err());
    }
}
