//! Folding of text for the word and tag indexes: "Matériel" and "materiel"
//! are the same word.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Words shorter than this are not indexed (articles, "à", "l'"): they would
/// make huge index ranges that select nothing.
pub const MIN_WORD_CHARS: usize = 2;
/// The most distinct description words indexed per listing (the first ones,
/// after those of the title and tags): each indexed word is one index entry,
/// the bulk of what a listing costs on disk and at ingest.
pub const MAX_DESCRIPTION_WORDS: usize = 48;

/// Folded French and English words too common to select anything; never
/// indexed, and dropped from queries.
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

/// The distinct words a listing is found by: every word of its title and
/// tags, then the first [`MAX_DESCRIPTION_WORDS`] other words of its
/// description; stopwords never.
pub fn listing_words(title: &str, tags: &[String], description: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |word: String| {
        let new = !is_stopword(&word) && !out.contains(&word);
        if new {
            out.push(word);
        }
        new
    };
    for source in std::iter::once(title).chain(tags.iter().map(String::as_str)) {
        words(source).into_iter().for_each(|w| {
            add(w);
        });
    }
    let mut description_words = 0;
    for word in words(description) {
        if description_words == MAX_DESCRIPTION_WORDS {
            break;
        }
        description_words += usize::from(add(word));
    }
    out
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
    fn listing_words_are_distinct_and_capped() {
        let words = listing_words(
            "Nacelle de la commune",
            &["Nacelle".into()],
            "Une élévatrice",
        );
        assert_eq!(words, ["nacelle", "commune", "elevatrice"]);
        // Title and tags count in full; the description's first words only.
        let long: String = (0..500).map(|i| format!("mot{i} ")).collect();
        let title: String = (0..60).map(|i| format!("titre{i} ")).collect();
        let words = listing_words(&title, &["tag".into()], &long);
        assert_eq!(words.len(), 60 + 1 + MAX_DESCRIPTION_WORDS);
        assert!(words.contains(&"titre59".to_string()));
        assert!(words.contains(&format!("mot{}", MAX_DESCRIPTION_WORDS - 1)));
        assert!(!words.contains(&format!("mot{MAX_DESCRIPTION_WORDS}")));
        assert_eq!(query_words("Broyeur DE végétaux"), ["broyeur", "vegetaux"]);
    }
}
