//! Tables for people, JSON lines for scripts; every write to stdout goes
//! through here so that a closed pipe (`mutua search | head`) ends quietly.
//!
//! Tables (comfy-table) are as wide as the terminal; titles are cut by
//! characters, never bytes, with an ellipsis; listing ids are shortened to
//! 12 hex digits, which every command accepts as a prefix. `--json` prints
//! one object per line in the API's own shapes. A closed pipe surfaces as
//! `io::ErrorKind::BrokenPipe`, and `main` then exits 0 silently.

use std::io::{self, IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use mutua_node::visible;
use serde::Serialize;

/// Titles and other free text longer than this are cut in tables.
pub const TITLE_CHARS: usize = 48;

#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// One JSON object on one line.
    pub fn json_line<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let mut out = io::stdout().lock();
        serde_json::to_writer(&mut out, value)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// Bytes as they are (a generated script).
    pub fn raw(&self, bytes: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    }

    /// A line of text for people (hidden characters shown, see
    /// [`mutua_node::visible`]).
    pub fn line(&self, text: impl AsRef<str>) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(visible::neutralise(text.as_ref(), true).as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// An aligned table, as wide as the terminal (not constrained in a pipe).
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) -> io::Result<()> {
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_header(header.iter().map(|h| h.to_uppercase()))
            .add_rows(rows.into_iter().map(|row| {
                row.into_iter()
                    .map(|cell| visible::neutralise(&cell, false).into_owned())
            }));
        if io::stdout().is_terminal() {
            table.set_content_arrangement(ContentArrangement::Dynamic);
        }
        let text = table.to_string();
        let mut out = io::stdout().lock();
        for line in text.lines() {
            // comfy-table pads the last column; trailing blanks help nobody.
            out.write_all(line.trim_end().as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// Cuts `text` to `max` characters (not bytes: "Médiathèque" stays whole
/// characters), marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = visible::neutralise(&one_line, false).into_owned();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Whether the error comes from writing to a closed stdout.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("Médiathèque", 20), "Médiathèque");
        assert_eq!(truncate("Élagage des arbres", 8), "Élagage…");
        assert_eq!(truncate("a\nb", 5), "a b");
        assert_eq!(truncate("ééééé", 5), "ééééé");
        assert_eq!(truncate("éééééé", 5), "éééé…");
    }

    #[test]
    fn hidden_characters_are_shown_in_truncated_text() {
        assert_eq!(truncate("Bro\u{202E}yeur", 20), "Bro<U+202E>yeur");
        assert_eq!(truncate("Broyeur 🌿", 20), "Broyeur 🌿");
    }
}
