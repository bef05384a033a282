//! The French analyzer of the search index: "Broyeurs de végétaux" and
//! "broyeur vegetal" meet on the same terms.
//!
//! Words are split on anything not alphanumeric, lower-cased and folded to
//! ASCII *before* the stopword filter and the French stemmer, so that a word
//! typed with or without its accents reaches the stemmer as the same input
//! and gets the same stem.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenizerManager,
};

/// The analyzer of the `text` field (title, description, tags) and of query text.
pub const STEMMED: &str = "mutua_fr";
/// The same without the stemmer: the words a query typed, for typo tolerance.
pub const FOLDED: &str = "mutua_fr_folded";

/// Longer tokens are dropped (hashes, URLs): they select nothing.
const MAX_TOKEN_BYTES: usize = 40;

/// The folded stopwords applied after folding: the store's own list (French
/// and English, `text::STOPWORDS`) and every single letter (the "l" of
/// "l'été"). Tantivy's French list (accented) runs before folding.
fn folded_stopwords() -> StopWordFilter {
    StopWordFilter::remove(
        crate::text::STOPWORDS
            .iter()
            .map(|w| w.to_string())
            .chain(('a'..='z').map(String::from)),
    )
}

fn french_stopwords() -> StopWordFilter {
    StopWordFilter::new(Language::French).expect("the stopwords feature is on")
}

fn folded() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(french_stopwords())
        .filter(AsciiFoldingFilter)
        .filter(folded_stopwords())
        .build()
}

fn stemmed() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(french_stopwords())
        .filter(AsciiFoldingFilter)
        .filter(folded_stopwords())
        .filter(Stemmer::new(Language::French))
        .build()
}

/// Registers both analyzers (tokenizers are not persisted with an index:
/// every open registers them again).
pub fn register(manager: &TokenizerManager) {
    manager.register(STEMMED, stemmed());
    manager.register(FOLDED, folded());
}

/// The tokens `analyzer` makes of `text`, in order.
pub fn tokens(manager: &TokenizerManager, analyzer: &str, text: &str) -> Vec<String> {
    let mut analyzer = manager.get(analyzer).expect("registered at open");
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(text: &str) -> Vec<String> {
        let manager = TokenizerManager::default();
        register(&manager);
        tokens(&manager, STEMMED, text)
    }

    #[test]
    fn plurals_accents_and_case_meet() {
        assert_eq!(stems("broyeurs"), stems("Broyeur"));
        assert_eq!(stems("branche"), stems("branches"));
        assert_eq!(stems("Végétaux"), stems("vegetaux"));
        assert_eq!(stems("ÉLECTRIQUE"), stems("électrique"));
    }

    #[test]
    fn stopwords_and_letters_are_dropped() {
        assert_eq!(stems("Broyeur de la commune, l'été").len(), 3);
        assert!(stems("de la des et à").is_empty());
    }
}
