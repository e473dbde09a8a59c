//! Word-level vocabularies and token ids, as the text examples use them.

use seq::data::{Tokenizer, VocabConfig};

use super::Error;

/// A word-level vocabulary of `texts`: at most 20,000 words, each seen at
/// least twice (the rest read as `[UNK]`), Keras' standardisation.
pub fn vocabulary<'a>(texts: impl Iterator<Item = &'a str> + Send) -> Result<Tokenizer, Error> {
    let config = VocabConfig {
        max_size: 20_000,
        min_frequency: 2,
        ..VocabConfig::default()
    };
    Ok(Tokenizer::word_level(texts, config)?)
}

/// The ids of `text`, cut to `max_len`; an empty text reads as one unknown word.
pub fn word_ids(tokenizer: &Tokenizer, text: &str, max_len: usize) -> Result<Vec<u32>, Error> {
    let mut ids = tokenizer.encode(text, false)?;
    ids.truncate(max_len);
    if ids.is_empty() {
        ids.push(1);
    }
    Ok(ids)
}

/// A vocabulary, each review's word ids, each review's class.
pub type Reviews = (Tokenizer, Vec<Vec<u32>>, Vec<u32>);

/// Labelled reviews (`pos`/`neg`) as a vocabulary of their words, each
/// review's ids (at most `max_len`) and its class (`pos` 1); for the
/// programs that train the sentiment model outside the example.
pub fn reviews(
    rows: &[seq::data::readers::text::Labelled],
    max_len: usize,
) -> Result<Reviews, Error> {
    let tokenizer = vocabulary(rows.iter().map(|r| r.text.as_str()))?;
    let ids = rows
        .iter()
        .map(|r| word_ids(&tokenizer, &r.text, max_len))
        .collect::<Result<_, _>>()?;
    let labels = rows.iter().map(|r| u32::from(r.label == "pos")).collect();
    Ok((tokenizer, ids, labels))
}
