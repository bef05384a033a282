//! A whole file's import, shared by `mutua import` and the web page's
//! import so that both give the same report for the same file: the header
//! found and read, every row checked before anything is published (a bad
//! row is refused whole, with every mistake in it), two rows naming the
//! same listing refused, then each good row sent by the caller (the CLI
//! over the control API, the page in the node) and its outcome or the
//! node's refusal recorded. The report is in French: town-hall staff read it.

use std::collections::HashMap;

use mutua_api::{ImportOutcome, ListingContent};
use mutua_protocol::PublicKey;
use serde::Serialize;

use crate::columns::{field_of, find_header, Field, Header, HeaderError};
use crate::fields::{column_of, LocalRules};
use crate::row::{self, CellError, GoodRow, RowContext};
use crate::Table;

/// One mistake, as reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorReport {
    /// The column as the file spells it (empty: the whole row).
    pub column: String,
    pub rule: String,
    pub message: String,
}

impl From<CellError> for ErrorReport {
    fn from(e: CellError) -> Self {
        ErrorReport {
            column: e.column,
            rule: e.rule,
            message: e.message,
        }
    }
}

/// What happened to one row: `published`, `updated`, `unchanged`,
/// `rejected`, or `valid` in a dry run or a held import (with the
/// `outcome` it would have, when the node was asked).
#[derive(Clone, Debug, Serialize)]
pub struct RowReport {
    pub line: u64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorReport>,
}

impl RowReport {
    pub fn rejected(line: u64, errors: Vec<CellError>) -> Self {
        RowReport {
            line,
            status: "rejected",
            outcome: None,
            id: None,
            errors: errors.into_iter().map(ErrorReport::from).collect(),
        }
    }

    /// A row the checks passed but that was not sent (held by
    /// all-or-nothing).
    pub fn held(line: u64) -> Self {
        RowReport {
            line,
            status: "valid",
            outcome: None,
            id: None,
            errors: Vec::new(),
        }
    }

    /// A row the node took (or judged, in a dry run).
    pub fn done(line: u64, outcome: ImportOutcome, id: String, dry_run: bool) -> Self {
        RowReport {
            line,
            status: if dry_run { "valid" } else { status_of(outcome) },
            outcome: Some(outcome.as_str().to_owned()),
            id: Some(id),
            errors: Vec::new(),
        }
    }
}

fn status_of(outcome: ImportOutcome) -> &'static str {
    match outcome {
        ImportOutcome::Published => "published",
        ImportOutcome::Updated => "updated",
        ImportOutcome::Unchanged => "unchanged",
    }
}

/// Why a file is refused whole (nothing is published then), in French.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FileError {
    #[error("le fichier est vide (il faut une ligne d'en-tête)")]
    Empty,
    #[error("ligne {line} (en-tête) : {error}")]
    Header { line: u64, error: HeaderError },
}

/// A file's rows checked: the good ones to send, in file order, and the
/// reports of the refused ones.
pub struct Checked {
    pub header: Header,
    pub good: Vec<(u64, GoodRow)>,
    pub reports: Vec<RowReport>,
}

/// What identifies a row without id (the node's
/// `listing_import::identity`): two rows with the same are one listing.
pub type Identity = fn(&ListingContent) -> String;

/// Checks every row of `table` as `author` would publish it at `now`.
pub fn check_table(
    table: Table,
    author: PublicKey,
    now: u64,
    local_rules: LocalRules,
    identity: Identity,
) -> Result<Checked, FileError> {
    let at = find_header(&table.rows).ok_or(FileError::Empty)?;
    let mut rows = table.rows.into_iter().skip(at);
    let header_row = rows.next().ok_or(FileError::Empty)?;
    let header = Header::parse(&header_row.cells).map_err(|error| FileError::Header {
        line: header_row.line,
        error,
    })?;
    let ctx = RowContext {
        header: &header,
        author,
        now,
        local_rules,
    };
    let mut reports = Vec::new();
    let mut good: Vec<(u64, GoodRow)> = Vec::new();
    // Rows that would land in the same slot: the first keeps it.
    let mut slots: HashMap<String, u64> = HashMap::new();
    for r in rows {
        if r.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let g = match row::check(&ctx, &r) {
            Ok(g) => g,
            Err(errors) => {
                reports.push(RowReport::rejected(r.line, errors));
                continue;
            }
        };
        let (slot, what) = match &g.id {
            Some(id) => (format!("id {id}"), Field::Id),
            None => (identity(&g.content), Field::Title),
        };
        if let Some(first) = slots.get(&slot) {
            let message = match what {
                Field::Id => format!("même identifiant qu'à la ligne {first} : une annonce ne peut être importée qu'une fois par fichier"),
                _ => format!(
                    "même type, même intitulé et même commune qu'à la ligne {first} : ce serait la même annonce (distinguez les intitulés, par exemple « {} (2) »)",
                    g.content.title
                ),
            };
            reports.push(RowReport::rejected(
                r.line,
                vec![CellError {
                    column: header.spelling(what).to_owned(),
                    rule: "duplicate_row".into(),
                    message,
                }],
            ));
            continue;
        }
        slots.insert(slot, r.line);
        good.push((r.line, g));
    }
    Ok(Checked {
        header,
        good,
        reports,
    })
}

/// A refusal by the node (its code, the field it names, its message), on
/// the column that field comes from, in French.
pub fn refused(header: &Header, code: &str, field: Option<&str>, message: &str) -> CellError {
    let column = field
        .map(column_of)
        .and_then(|c| field_of(c.split('/').next().unwrap_or(c)))
        .or(match field {
            Some("id") => Some(Field::Id),
            Some("side") => Some(Field::Side),
            _ => None,
        })
        .map_or(String::new(), |f| header.spelling(f).to_owned());
    let message = match code {
        "withdrawn" => "cette annonce a été retirée : elle n'est pas republiée (changez l'intitulé pour en publier une nouvelle)".to_owned(),
        "wrong_side" => "la ligne désigne une annonce existante de l'autre type (offre ou besoin) : rien n'a été modifié".to_owned(),
        "not_a_member" => format!("la collectivité n'est pas (encore) membre de la fédération : {message}"),
        code => match row::french_local_rule(code) {
            Some(text) => text.to_owned(),
            None => format!("refusée par le nœud : {message}"),
        },
    };
    CellError {
        column,
        rule: code.to_owned(),
        message,
    }
}

/// How many rows ended how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub published: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
}

impl Counts {
    pub fn of(reports: &[RowReport]) -> Counts {
        let outcome = |o: &str| {
            reports
                .iter()
                .filter(|r| r.status != "rejected" && r.outcome.as_deref() == Some(o))
                .count()
        };
        Counts {
            published: outcome("published"),
            updated: outcome("updated"),
            unchanged: outcome("unchanged"),
            rejected: reports.iter().filter(|r| r.status == "rejected").count(),
        }
    }

    /// `2 publiée(s), 0 mise(s) à jour, 1 inchangée(s), 1 refusée(s)`.
    pub fn summary(&self, dry_run: bool) -> String {
        let (p, u) = if dry_run {
            ("à publier", "à mettre à jour")
        } else {
            ("publiée(s)", "mise(s) à jour")
        };
        format!(
            "{} {p}, {} {u}, {} inchangée(s), {} refusée(s)",
            self.published, self.updated, self.unchanged, self.rejected
        )
    }
}

/// One mistake as a line of the report: `colonne « X » : message (règle : r)`.
pub fn error_line(e: &ErrorReport) -> String {
    let column = if e.column.is_empty() {
        String::new()
    } else {
        format!("colonne « {} » : ", e.column)
    };
    format!("{column}{} (règle : {})", e.message, e.rule)
}

/// What a row that went in became, in words (`publiée`, `mise à jour`);
/// `None` for the others.
pub fn done_word(status: &str) -> Option<&'static str> {
    match status {
        "published" => Some("publiée"),
        "updated" => Some("mise à jour"),
        "unchanged" => Some("inchangée"),
        "valid" => Some("valide"),
        _ => None,
    }
}
