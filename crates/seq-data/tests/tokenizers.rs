//! Tokenizers: a word-level vocabulary trained on the shipped Rotten
//! Tomatoes reviews round-trips and saves; character-level and BPE too.

use std::path::PathBuf;

use seq_data::readers::text::read_labelled_table;
use seq_data::{Standardize, Tokenizer, VocabConfig};

fn data(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "..", "data", name]
        .iter()
        .collect()
}

fn reviews() -> Vec<String> {
    read_labelled_table(&data("rotten-tomatoes-train.tsv"), b'\t', "text", "label")
        .unwrap()
        .into_iter()
        .map(|r| r.text)
        .collect()
}

#[test]
fn a_word_level_vocabulary_of_the_reviews_round_trips() {
    let texts = reviews();
    assert_eq!(texts.len(), 8952);
    let cfg = VocabConfig {
        max_size: 10_000,
        min_frequency: 2,
        standardize: Standardize::default(),
    };
    let tk = Tokenizer::word_level(texts.iter().map(String::as_str), cfg).unwrap();
    assert!(
        tk.vocab_size() > 5_000 && tk.vocab_size() <= 10_000,
        "{}",
        tk.vocab_size()
    );
    assert_eq!(
        [
            tk.token_to_id("[PAD]"),
            tk.token_to_id("[UNK]"),
            tk.token_to_id("[BOS]"),
            tk.token_to_id("[EOS]")
        ],
        [Some(0), Some(1), Some(2), Some(3)]
    );
    // The most frequent word comes first after the special tokens.
    assert_eq!(tk.id_to_token(4).as_deref(), Some("the"));
    // Round trip: standardised text back (words in the vocabulary).
    let text = "The film's charm, alas, is GONE.";
    let ids = tk.encode(text, false).unwrap();
    assert_eq!(tk.decode(&ids).unwrap(), "the films charm alas is gone");
    let ids = tk.encode("qwertyuiop film", true).unwrap();
    assert_eq!((ids[0], ids[1], ids[ids.len() - 1]), (2, 1, 3));
    // Saved and loaded, the same ids.
    let path = std::env::temp_dir().join(format!("seq-tok-{}.json", std::process::id()));
    tk.save(&path).unwrap();
    let back = Tokenizer::from_file(&path).unwrap();
    for t in texts.iter().take(200) {
        assert_eq!(back.encode(t, true).unwrap(), tk.encode(t, true).unwrap());
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn character_level_and_bpe_tokenizers() {
    let texts = reviews();
    let chars = Tokenizer::char_level(
        texts.iter().map(String::as_str),
        VocabConfig {
            standardize: Standardize::None,
            ..VocabConfig::default()
        },
    )
    .unwrap();
    let ids = chars.encode("Hi, you!", false).unwrap();
    assert_eq!(ids.len(), 8);
    assert_eq!(chars.tokens("ab c").unwrap(), vec!["a", "b", " ", "c"]);
    assert_eq!(
        chars
            .decode(&chars.encode("Hi, you!", false).unwrap())
            .unwrap(),
        "Hi, you!"
    );
    let bpe = Tokenizer::bpe(
        texts.iter().map(String::as_str),
        VocabConfig {
            max_size: 2_000,
            ..VocabConfig::default()
        },
    )
    .unwrap();
    assert!(bpe.vocab_size() <= 2_000 && bpe.vocab_size() > 500);
    let ids = bpe.encode("an unforgettable performance", false).unwrap();
    assert!(
        !ids.contains(&1),
        "BPE has no unknown pieces for known letters"
    );
    assert_eq!(
        bpe.decode(&ids).unwrap(),
        "an unforgettable performance",
        "word boundaries survive subword pieces"
    );
    let rare = bpe.encode("zxq unforgettably", false).unwrap();
    assert!(rare.len() > 2, "rare words split into pieces");
    assert_eq!(bpe.decode(&rare).unwrap(), "zxq unforgettably");
}
