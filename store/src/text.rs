//! Folding of text for the word and tag indexes: "Matériel" and "materiel"
//! are the same word.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Words shorter than this are not indexed (articles, "à", "l'"): they would
/// make huge index ranges that select nothing.
pub const MIN_WORD_CHARS: usize = 2;
/// The most distinct words indexed per listing (title and tags first, then the
/// description in order), which bounds the index entries one record can cost.
pub const MAX_INDEXED_WORDS: usize = 160;

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

/// The distinct words a listing is found by, capped at [`MAX_INDEXED_WORDS`].
pub fn listing_words(title: &str, tags: &[String], description: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let sources = std::iter::once(title)
        .chain(tags.iter().map(String::as_str))
        .chain(std::iter::once(description));
    for source in sources {
        for word in words(source) {
            if out.len() >= MAX_INDEXED_WORDS {
                return out;
            }
            if seen.insert(word.clone()) {
                out.push(word);
            }
        }
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
        let words = listing_words("Nacelle nacelle", &["Nacelle".into()], "élévatrice");
        assert_eq!(words, ["nacelle", "elevatrice"]);
        let long: String = (0..500).map(|i| format!("mot{i} ")).collect();
        assert_eq!(listing_words("titre", &[], &long).len(), MAX_INDEXED_WORDS);
    }
}
