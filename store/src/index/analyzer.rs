//! The French analyzer of the search index: "Broyeurs de végétaux" and
//! "broyeur vegetal" meet on the same terms.
//!
//! Words are split on anything not alphanumeric, lower-cased and folded to
//! ASCII *before* the stopword filter and the French stemmer, so that a word
//! typed with or without its accents reaches the stemmer as the same input
//! and gets the same stem.
//!
//! The stems are cached ([`CachedStemmer`]): the French stemmer was 44 %
//! of the indexing thread's time at ingest (BENCHMARKS.md), and listings
//! reuse a small vocabulary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
    TokenizerManager,
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
        .filter(CachedStemmer::default())
        .build()
}

/// The most words [`CachedStemmer`] remembers (≈ 64 B each); when full it
/// starts again empty.
const STEM_CACHE_WORDS: usize = 4096;

/// tantivy's French [`Stemmer`] behind a cache of word → stem shared by
/// every clone of the analyzer (the index's writers and its queries).
#[derive(Clone)]
pub struct CachedStemmer {
    stems: Arc<Mutex<HashMap<String, String>>>,
    stemmer: TextAnalyzer,
}

impl Default for CachedStemmer {
    fn default() -> Self {
        CachedStemmer {
            stems: Arc::default(),
            stemmer: TextAnalyzer::builder(RawTokenizer::default())
                .filter(Stemmer::new(Language::French))
                .build(),
        }
    }
}

impl CachedStemmer {
    fn stem(&mut self, word: &str, out: &mut String) {
        out.clear();
        if let Some(stem) = self.stems.lock().ok().and_then(|s| s.get(word).cloned()) {
            out.push_str(&stem);
            return;
        }
        let mut stream = self.stemmer.token_stream(word);
        if stream.advance() {
            out.push_str(&stream.token().text);
        }
        if let Ok(mut stems) = self.stems.lock() {
            if stems.len() >= STEM_CACHE_WORDS {
                stems.clear();
            }
            stems.insert(word.to_owned(), out.clone());
        }
    }
}

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter {
            stemmer: self,
            inner,
        }
    }
}

#[derive(Clone)]
pub struct CachedStemmerFilter<T> {
    stemmer: CachedStemmer,
    inner: T,
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CachedStemmerStream {
            tail: self.inner.token_stream(text),
            stemmer: &mut self.stemmer,
            buffer: String::new(),
        }
    }
}

pub struct CachedStemmerStream<'a, T> {
    tail: T,
    stemmer: &'a mut CachedStemmer,
    buffer: String,
}

impl<T: TokenStream> TokenStream for CachedStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        self.stemmer.stem(&token.text, &mut self.buffer);
        std::mem::swap(&mut token.text, &mut self.buffer);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
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
    fn cached_stems_are_the_stemmers() {
        let plain = |text: &str| {
            let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(Stemmer::new(Language::French))
                .build();
            let mut stream = analyzer.token_stream(text);
            let mut out = Vec::new();
            while stream.advance() {
                out.push(stream.token().text.clone());
            }
            out
        };
        let mut cached = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(CachedStemmer::default())
            .build();
        let text = "broyeurs vegetaux broyeurs nacelle electriques nacelles vegetaux";
        for _ in 0..2 {
            let mut stream = cached.token_stream(text);
            let mut out = Vec::new();
            while stream.advance() {
                out.push(stream.token().text.clone());
            }
            assert_eq!(out, plain(text));
        }
    }

    #[test]
    fn stopwords_and_letters_are_dropped() {
        assert_eq!(stems("Broyeur de la commune, l'été").len(), 3);
        assert!(stems("de la des et à").is_empty());
    }
}
