//! Characters that change how a text reads without being seen: bidirectional
//! overrides and isolates (a title "U+202E…" shows reversed), zero-width
//! spaces and joiners, invisible fillers. The protocol accepts them (its
//! rules change only with a format version, and a received record stays as
//! signed); this node refuses them in what it publishes itself, and the CLI
//! shows them as `<U+202E>` wherever it prints a text.
//!
//! Emoji stay whole: the zero-width joiner inside an emoji sequence (👩‍🌾)
//! and the tag characters of a subdivision flag are part of the picture.

use std::borrow::Cow;

/// The name of a hidden character, for messages.
pub fn name(c: char) -> &'static str {
    match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{00AD}' => "SOFT HYPHEN",
        c if c.is_control() => "CONTROL CHARACTER",
        _ => "INVISIBLE CHARACTER",
    }
}

/// Whether `c` is invisible or reorders text, given its neighbours (`None`
/// at either end of the text).
fn is_hidden(prev: Option<char>, c: char, next: Option<char>) -> bool {
    let pictographic = |c: Option<char>| {
        c.is_some_and(|c| c as u32 >= 0x2000 && !c.is_alphanumeric() && !c.is_whitespace())
    };
    match c {
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => true,
        '\u{200B}' | '\u{200C}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' => true,
        '\u{180E}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => true,
        // Joins two pictographs into one emoji; anywhere else it hides.
        '\u{200D}' => !(pictographic(prev) && pictographic(next)),
        // Tag characters: only in a flag's sequence after U+1F3F4 (🏴).
        '\u{E0000}'..='\u{E007F}' => !matches!(prev, Some('\u{1F3F4}' | '\u{E0020}'..='\u{E007F}')),
        _ => false,
    }
}

/// The first hidden character of `text`: its position (in characters, from
/// 1) and the character.
pub fn find_hidden(text: &str) -> Option<(usize, char)> {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len()).find_map(|i| {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        is_hidden(prev, chars[i], chars.get(i + 1).copied()).then_some((i + 1, chars[i]))
    })
}

/// `text` with every hidden character, and every control character but
/// line breaks and tabs where `multiline`, shown as `<U+XXXX>`.
pub fn neutralise(text: &str, multiline: bool) -> Cow<'_, str> {
    let control = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
    let chars: Vec<char> = text.chars().collect();
    let hidden = |i: usize| {
        let c = chars[i];
        control(c)
            || is_hidden(
                i.checked_sub(1).map(|p| chars[p]),
                c,
                chars.get(i + 1).copied(),
            )
    };
    if !(0..chars.len()).any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if hidden(i) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_zero_width_characters_are_found_emoji_are_not() {
        assert_eq!(find_hidden("Broyeur \u{202E}ruoy"), Some((9, '\u{202E}')));
        assert_eq!(find_hidden("Bro\u{200B}yeur"), Some((4, '\u{200B}')));
        assert_eq!(find_hidden("a\u{200D}b"), Some((2, '\u{200D}')));
        assert_eq!(
            find_hidden("Broyeur 🌿 👩\u{200D}🌾 ❤\u{FE0F} Élagage"),
            None
        );
        assert_eq!(
            find_hidden("🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}"),
            None
        );
        assert_eq!(find_hidden("a\u{E0041}"), Some((2, '\u{E0041}')));
        assert_eq!(name('\u{202E}'), "RIGHT-TO-LEFT OVERRIDE");
    }

    #[test]
    fn neutralised_text_shows_what_was_hidden() {
        assert_eq!(neutralise("ab\u{202E}cd", false), "ab<U+202E>cd");
        assert_eq!(neutralise("a\nb\u{7}", true), "a\nb<U+0007>");
        assert_eq!(neutralise("a\nb", false), "a<U+000A>b");
        assert!(matches!(
            neutralise("Médiathèque 📚", false),
            Cow::Borrowed(_)
        ));
    }
}
