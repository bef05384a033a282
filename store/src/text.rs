//! Folding of text for tags and query words: "Matériel" and "materiel" are
//! the same word (the search index's analyzers do the same for its text).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Words shorter than this are not indexed (articles, "à", "l'"): they would
/// make huge index ranges that select nothing.
pub const MIN_WORD_CHARS: usize = 2;

/// Folded French and English words too common to select anything; the
/// search index's analyzers drop them.
pub const STOPWORDS: [&str; 62] = [
    "au", "aux", "avec", "ce", "ces", "cet", "cette", "dans", "de", "des", "du", "elle", "en",
    "est", "et", "il", "ils", "la", "le", "les", "leur", "leurs", "mais", "ne", "nos", "notre",
    "nous", "on", "ou", "par", "pas", "pour", "qui", "que", "sa", "se", "ses", "son", "sont",
    "sur", "un", "une", "vos", "votre", "vous", "an", "and", "are", "as", "at", "be", "by", "for",
    "in", "is", "it", "of", "or", "the", "to", "with", "our",
];

/// Whether a folded word is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word)
}

/// Canonical decomposition, combining marks dropped, lowercase.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A tag as indexed and queried: folded, inner white space collapsed.
pub fn fold_tag(tag: &str) -> String {
    fold(tag).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The folded words of `text`, split on anything not alphanumeric, in order,
/// possibly repeated.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= MIN_WORD_CHARS)
        .map(str::to_owned)
        .collect()
}

/// The words of a query that the index can match: stopwords dropped.
pub fn query_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !is_stopword(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(fold("Matériel ÉLECTRIQUE"), "materiel electrique");
        assert_eq!(fold_tag("  Marché   Public "), "marche public");
        let w = words("Broyeur de végétaux, l'été !");
        assert_eq!(w, ["broyeur", "de", "vegetaux", "ete"]);
    }

    #[test]
    fn query_words_drop_stopwords() {
        assert_eq!(query_words("Broyeur DE végétaux"), ["broyeur", "vegetaux"]);
    }
}
