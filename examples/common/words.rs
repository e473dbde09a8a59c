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

/// Sets the rows of the model's word vectors (its one `*embedding.weight`
/// in `params`) for the words of `tokenizer` that have a vector in the
/// word2vec text file `path` (what the word2vec example writes); the other
/// rows keep their initial values. Prints the share of the vocabulary
/// found.
pub fn load_word_vectors(
    params: &seq::core::Params,
    path: &std::path::Path,
    tokenizer: &Tokenizer,
) -> Result<(), Error> {
    use seq::data::vectors::{read_vectors, VectorFormat};
    let vars: Vec<_> = params
        .named_vars()
        .into_iter()
        .filter(|(n, _)| n.ends_with("embedding.weight"))
        .collect();
    let [(name, var)] = &vars[..] else {
        return Err(format!(
            "--vectors: the model has {} word embeddings, not one",
            vars.len()
        )
        .into());
    };
    let vectors = read_vectors(path, VectorFormat::Word2VecText)?;
    let mut rows = var
        .as_tensor()
        .to_dtype(candle_core::DType::F32)?
        .to_vec2::<f32>()?;
    let width = rows.first().map_or(0, Vec::len);
    if let Some(v) = vectors.values().next().filter(|v| v.len() != width) {
        return Err(format!(
            "--vectors {}: vectors of {} values, the model's words ({name}) have {width} (set --embed {})",
            path.display(),
            v.len(),
            v.len()
        )
        .into());
    }
    let mut found = 0;
    for (id, row) in rows
        .iter_mut()
        .enumerate()
        .take(tokenizer.vocab_size())
        .skip(1)
    {
        let word = tokenizer.id_to_token(id as u32).unwrap_or_default();
        if let Some(v) = vectors.get(&word) {
            row.copy_from_slice(v);
            found += 1;
        }
    }
    let weights = candle_core::Tensor::new(rows, var.device())?.to_dtype(var.dtype())?;
    var.set(&weights)?;
    let share = found as f64 / tokenizer.vocab_size().max(1) as f64;
    println!(
        "word vectors from {}: {:.1}% of the vocabulary",
        path.display(),
        100.0 * share
    );
    Ok(())
}
