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

    /// One JSON object on one line, its keys in alphabetical order at every
    /// depth: how this CLI has always printed what the node answers (and the
    /// objects it makes itself), so that scripts see the same lines.
    pub fn json_sorted<T: Serialize>(&self, value: &T) -> io::Result<()> {
        self.json_line(&sorted(value)?)
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

/// `value` as a JSON value: serde_json's map keeps its keys sorted. The
/// one place the CLI holds untyped JSON, and only to print it.
pub fn sorted<T: Serialize>(value: &T) -> io::Result<serde_json::Value> {
    serde_json::to_value(value).map_err(io::Error::other)
}

/// The name a unit variant has in JSON (`BodyKind::Commune` → `commune`).
pub fn json_name<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .map(|text| text.trim_matches('"').to_owned())
        .unwrap_or_default()
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

    /// What `--json` prints of a typed answer is, to the byte, what it
    /// printed when it held the node's answer as a `serde_json::Value`.
    #[test]
    fn typed_answers_print_as_the_untyped_ones_did() {
        fn same<T: serde::de::DeserializeOwned + Serialize>(name: &str) {
            let path = format!(
                "{}/../api/tests/examples/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let untyped: serde_json::Value = serde_json::from_str(&text).unwrap();
            let typed: T = serde_json::from_str(&text).unwrap();
            assert_eq!(
                serde_json::to_string(&sorted(&typed).unwrap()).unwrap(),
                serde_json::to_string(&untyped).unwrap(),
                "{name}"
            );
        }
        same::<mutua_api::Record>("record");
        same::<mutua_api::Record>("certificate");
        same::<mutua_api::RecordsPage>("records_near");
        same::<mutua_api::RecordsPage>("records_page");
        same::<mutua_api::Status>("status");
        same::<mutua_api::Status>("status_b");
        same::<mutua_api::Peers>("peers");
        same::<mutua_api::Members>("members");
        same::<mutua_api::Published>("withdraw");
    }

    #[test]
    fn unit_variants_are_named_as_in_json() {
        assert_eq!(
            json_name(&mutua_protocol::BodyKind::OtherPublicBody),
            "other_public_body"
        );
    }
}
