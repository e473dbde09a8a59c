//! [`Tokenizer`]: word-level, character-level and BPE tokenizers on the
//! Hugging Face `tokenizers` crate, with seq's special tokens.

use std::path::Path;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainerBuilder};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::normalizers::{Lowercase, Replace, Sequence};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use crate::{Error, Result, Standardize};

/// Padding: id 0.
pub const PAD: &str = "[PAD]";
/// Unknown words: id 1.
pub const UNK: &str = "[UNK]";
/// Start of sequence: id 2.
pub const BOS: &str = "[BOS]";
/// End of sequence: id 3.
pub const EOS: &str = "[EOS]";

fn specials() -> Vec<AddedToken> {
    [PAD, UNK, BOS, EOS]
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect()
}

fn tk_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

/// Sizes of a trained vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VocabConfig {
    /// At most this many ids, special tokens included (default 20,000).
    pub max_size: usize,
    /// Words seen fewer times are unknown (default 1).
    pub min_frequency: u64,
    /// How text is standardised first (default
    /// [`Standardize::LowerAndStripPunctuation`], Keras').
    pub standardize: Standardize,
}

impl VocabConfig {
    /// At most `max_size` ids, every word seen once kept, Keras' standardisation.
    pub fn new(max_size: usize) -> Self {
        VocabConfig {
            max_size,
            ..VocabConfig::default()
        }
    }

    /// With words seen fewer than `n` times unknown (default 1).
    pub fn with_min_frequency(mut self, n: u64) -> Self {
        self.min_frequency = n;
        self
    }

    /// With another standardisation (default lowercase, punctuation stripped).
    pub fn with_standardize(mut self, standardize: Standardize) -> Self {
        self.standardize = standardize;
        self
    }
}

impl Default for VocabConfig {
    fn default() -> Self {
        VocabConfig {
            max_size: 20_000,
            min_frequency: 1,
            standardize: Standardize::default(),
        }
    }
}

/// A tokenizer with seq's special tokens at fixed ids: `[PAD]` 0, `[UNK]` 1,
/// `[BOS]` 2, `[EOS]` 3. Saved and loaded as a standard `tokenizer.json`.
///
/// ```
/// # fn main() -> seq_data::Result<()> {
/// use seq_data::{Tokenizer, VocabConfig, PAD, UNK};
///
/// let texts = ["The cat sat.", "The dog sat on the cat!"];
/// let tk = Tokenizer::word_level(texts.iter(), VocabConfig::new(100))?;
/// // Lowercased, punctuation stripped, by frequency after the 4 special tokens.
/// assert_eq!(tk.tokens("The cat sat.")?, ["the", "cat", "sat"]);
/// let ids = tk.encode("the cat barked", true)?; // [BOS] ... [EOS]
/// assert_eq!(ids.len(), 5);
/// assert_eq!(Some(ids[3]), tk.token_to_id(UNK)); // never seen
/// assert_eq!(tk.decode(&ids[1..3])?, "the cat");
/// assert_eq!(tk.token_to_id(PAD), Some(0));
/// // Saved and loaded as a standard tokenizer.json.
/// let path = std::env::temp_dir().join("seq-doc-tokenizer.json");
/// tk.save(&path)?;
/// assert_eq!(Tokenizer::from_file(&path)?.vocab_size(), tk.vocab_size());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    /// A word-level vocabulary trained on `texts`: words (whitespace-split
    /// after standardisation) by frequency, Keras' `TextVectorization`.
    pub fn word_level<S: AsRef<str> + Send>(
        texts: impl Iterator<Item = S> + Send,
        config: VocabConfig,
    ) -> Result<Self> {
        let model = WordLevel::builder()
            .unk_token(UNK.into())
            .build()
            .map_err(tk_err)?;
        Self::train(
            model,
            WhitespaceSplit,
            word_level_trainer(config)?,
            texts,
            config,
        )
    }

    /// A character-level vocabulary trained on `texts` (for character
    /// language models; no standardisation but the one asked for).
    pub fn char_level<S: AsRef<str> + Send>(
        texts: impl Iterator<Item = S> + Send,
        config: VocabConfig,
    ) -> Result<Self> {
        let model = WordLevel::builder()
            .unk_token(UNK.into())
            .build()
            .map_err(tk_err)?;
        let chars = Split::new(
            SplitPattern::Regex("(?s).".into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tk_err)?;
        let mut tk = Self::train(model, chars, word_level_trainer(config)?, texts, config)?;
        // Characters decode back to back, not joined by spaces.
        tk.inner.with_decoder(Some(Fuse::new()));
        Ok(tk)
    }

    /// A byte-pair-encoding vocabulary (Sennrich et al., 2016) of at most
    /// `config.max_size` tokens trained on `texts`. Words are split at
    /// whitespace and each starts with `▁` (SentencePiece's metaspace), so
    /// [`Tokenizer::decode`] puts the spaces back where they were.
    pub fn bpe<S: AsRef<str> + Send>(
        texts: impl Iterator<Item = S> + Send,
        config: VocabConfig,
    ) -> Result<Self> {
        let model = BPE::builder()
            .unk_token(UNK.into())
            .build()
            .map_err(tk_err)?;
        let trainer = BpeTrainerBuilder::new()
            .vocab_size(config.max_size)
            .min_frequency(config.min_frequency)
            .show_progress(false)
            .special_tokens(specials())
            .build();
        let words = Metaspace::new('▁', PrependScheme::Always, true);
        let mut tk = Self::train(model, words.clone(), trainer.into(), texts, config)?;
        tk.inner.with_decoder(Some(words));
        Ok(tk)
    }

    /// A tokenizer of `model` after `config`'s standardisation and
    /// `pre_tokenizer`, its vocabulary trained on `texts` by `trainer`.
    fn train<S: AsRef<str> + Send>(
        model: impl Into<ModelWrapper>,
        pre_tokenizer: impl Into<PreTokenizerWrapper>,
        mut trainer: TrainerWrapper,
        texts: impl Iterator<Item = S> + Send,
        config: VocabConfig,
    ) -> Result<Self> {
        let mut tk = tokenizers::Tokenizer::new(model);
        tk.with_normalizer(normalizer(config.standardize)?)
            .map_err(tk_err)?;
        tk.with_pre_tokenizer(Some(pre_tokenizer.into()));
        tk.train(&mut trainer, texts).map_err(tk_err)?;
        for (id, t) in [PAD, UNK, BOS, EOS].iter().enumerate() {
            if tk.token_to_id(t) != Some(id as u32) {
                return Err(Error::Tokenizer(format!("{t} did not get id {id}")));
            }
        }
        Ok(Tokenizer { inner: tk })
    }

    /// Loads any `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let tk = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(Tokenizer { inner: tk })
    }

    /// Writes `tokenizer.json`, atomically ([`seq_core::fs`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .inner
            .to_string(false)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        Ok(seq_core::fs::write_atomic(path, json.as_bytes())?)
    }

    /// The ids of `text`; with `bos_eos`, wrapped in `[BOS]` ... `[EOS]`.
    pub fn encode(&self, text: &str, bos_eos: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(tk_err)?;
        let ids = enc.get_ids();
        Ok(if bos_eos {
            [&[2], ids, &[3]].concat()
        } else {
            ids.to_vec()
        })
    }

    /// The text of `ids`, special tokens left out.
    ///
    /// An id outside the vocabulary is an error (the `tokenizers` crate
    /// would skip it without a word).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let size = self.vocab_size();
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= size) {
            return Err(Error::Tokenizer(format!(
                "decode: id {bad} is outside the vocabulary of {size}"
            )));
        }
        self.inner.decode(ids, true).map_err(tk_err)
    }

    /// The tokens of `text` (after standardisation).
    pub fn tokens(&self, text: &str) -> Result<Vec<String>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tk_err)?
            .get_tokens()
            .to_vec())
    }

    /// The number of ids.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of `token`.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token of `id`.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

fn word_level_trainer(config: VocabConfig) -> Result<TrainerWrapper> {
    let trainer = WordLevelTrainerBuilder::default()
        .min_frequency(config.min_frequency)
        .vocab_size(config.max_size)
        .show_progress(false)
        .special_tokens(specials())
        .build()
        .map_err(tk_err)?;
    Ok(trainer.into())
}

fn normalizer(s: Standardize) -> Result<Option<NormalizerWrapper>> {
    Ok(match s {
        Standardize::None => None,
        Standardize::Lower => Some(Lowercase.into()),
        Standardize::LowerAndStripPunctuation => {
            let strip = Replace::new(
                tokenizers::normalizers::replace::ReplacePattern::Regex(
                    Standardize::punctuation_regex(),
                ),
                "",
            )
            .map_err(tk_err)?;
            Some(Sequence::new(vec![Lowercase.into(), strip.into()]).into())
        }
    })
}
