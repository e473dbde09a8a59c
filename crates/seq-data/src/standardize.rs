//! Text standardisation before tokenizing, as Keras' `TextVectorization`.

/// The punctuation Keras' default standardisation strips:
/// `!"#$%&()*+,-./:;<=>?@[\]^_`{|}~'`.
pub const PUNCTUATION: &str = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'";

/// How text is standardised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Standardize {
    /// Kept as it is.
    None,
    /// Lowercased.
    Lower,
    /// Lowercased, [`PUNCTUATION`] removed: Keras' default
    /// (`lower_and_strip_punctuation`).
    #[default]
    LowerAndStripPunctuation,
}

impl Standardize {
    /// Applies the standardisation.
    pub fn apply(self, text: &str) -> String {
        match self {
            Standardize::None => text.to_string(),
            Standardize::Lower => text.to_lowercase(),
            Standardize::LowerAndStripPunctuation => text
                .to_lowercase()
                .chars()
                .filter(|c| !PUNCTUATION.contains(*c))
                .collect(),
        }
    }

    /// The same as a regular expression for the `tokenizers` normaliser.
    pub(crate) fn punctuation_regex() -> String {
        format!(
            "[{}]",
            PUNCTUATION
                .chars()
                .map(|c| format!("\\{c}"))
                .collect::<String>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_default_lowercases_and_strips() {
        assert_eq!(
            Standardize::default().apply("It's GREAT, isn't it?!"),
            "its great isnt it"
        );
        assert_eq!(Standardize::Lower.apply("A.B"), "a.b");
    }
}
