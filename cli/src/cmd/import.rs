//! `mutua import`: a spreadsheet (CSV/TSV in any encoding office software
//! writes, `.ods`, `.xlsx`) → listings, idempotently.
//!
//! Every row is checked before anything is published: a row is one record,
//! so a bad row is refused whole (never half-published), with every mistake
//! in it reported by line and column. The good rows then go one by one to
//! the node's `POST /v1/listings/import`, which matches each to the listing
//! it describes (`mutua_node::listing_import`): a row already imported is
//! left unchanged, an edited one updates its listing. The report is in
//! French: town-hall staff read it.

use std::collections::HashMap;
use std::io::IsTerminal;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mutua_api::{ImportOutcome, ImportRow, ListingContent};
use serde::Serialize;

use super::{Context, Hosted};
use crate::args::ImportArgs;
use crate::client::Refusal;
use crate::sheet::columns::{field_of, find_header, Field, Header};
use crate::sheet::row::{self, CellError, GoodRow, RowContext};
use crate::{dates, listing, sheet};

/// One mistake, as reported.
#[derive(Serialize)]
struct ErrorReport {
    /// The column as the file spells it.
    column: String,
    rule: String,
    message: String,
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
/// `rejected`, or `valid` in a dry run (with the `outcome` it would have).
#[derive(Serialize)]
struct RowReport {
    line: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ErrorReport>,
}

impl RowReport {
    fn rejected(line: u64, errors: Vec<CellError>) -> Self {
        RowReport {
            line,
            status: "rejected",
            outcome: None,
            id: None,
            errors: errors.into_iter().map(ErrorReport::from).collect(),
        }
    }
}

/// The node's identity of a row without id (side, title, commune), which
/// its slot is derived from.
fn identity(content: &ListingContent) -> String {
    mutua_node::listing_import::identity(content)
}

pub fn run(ctx: &Context, args: ImportArgs) -> Result<()> {
    let file = args.file.display().to_string();
    let table = sheet::read(&args.file)
        .map_err(|e| anyhow::anyhow!("{file} : {e} ; rien n'a été publié"))?;
    let Some(at) = find_header(&table.rows) else {
        bail!("{file} : le fichier est vide (il faut une ligne d'en-tête) ; rien n'a été publié");
    };
    let mut rows = table.rows.into_iter().skip(at);
    let header_row = rows.next().expect("find_header gives a row");
    let header = Header::parse(&header_row.cells).map_err(|e| {
        anyhow::anyhow!(
            "{file} : ligne {} (en-tête) : {e} ; rien n'a été publié",
            header_row.line
        )
    })?;

    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let publisher = hosted.publisher(args.publisher.as_deref())?;
    let row_ctx = RowContext {
        header: &header,
        author: publisher.key,
        now: dates::now(),
    };

    let mut reports: Vec<RowReport> = Vec::new();
    let mut good: Vec<(u64, GoodRow)> = Vec::new();
    // Rows that would land in the same slot: the first keeps it.
    let mut slots: HashMap<String, u64> = HashMap::new();
    for r in rows {
        if r.cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        match row::check(&row_ctx, &r) {
            Ok(g) => {
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
            Err(errors) => reports.push(RowReport::rejected(r.line, errors)),
        }
    }
    let invalid = reports.len();
    let hold = args.all_or_nothing && invalid > 0;
    let progress = if std::io::stderr().is_terminal() && !ctx.out.json && !hold {
        let bar = ProgressBar::new(good.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} lignes {msg}")
                .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for (line, g) in &good {
        if hold {
            reports.push(RowReport {
                line: *line,
                status: "valid",
                outcome: None,
                id: None,
                errors: vec![],
            });
            continue;
        }
        let row = ImportRow {
            id: g.id.clone(),
            listing: g.content.clone(),
            dry_run: args.dry_run,
        };
        let sent = client.call(|api| api.import_listing(Some(&publisher.name), &row));
        reports.push(match sent {
            Ok(done) => RowReport {
                line: *line,
                status: if args.dry_run { "valid" } else { status_of(done.outcome) },
                outcome: Some(done.outcome.as_str().to_owned()),
                id: Some(done.id.to_hex()),
                errors: vec![],
            },
            Err(e) => match e.downcast::<Refusal>() {
                Ok(refusal) => RowReport::rejected(*line, vec![refused(&header, refusal)]),
                // The node stopped or failed: say what went in, and that
                // running the same command again completes the import.
                Err(e) => {
                    progress.abandon();
                    print_reports(ctx, &mut reports, &file)?;
                    return Err(e.context(format!(
                        "{file} : import interrompu à la ligne {line} ; les lignes indiquées ci-dessus sont enregistrées, \
                         relancez la même commande pour importer le reste (les lignes déjà importées seront reconnues, sans doublon)"
                    )));
                }
            },
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    let counts = print_reports(ctx, &mut reports, &file)?;
    let read_as = table.format;
    if hold {
        bail!(
            "{file} ({read_as}) : {invalid} ligne(s) refusée(s) et --all-or-nothing : rien n'a été publié"
        );
    }
    if args.dry_run {
        let summary = counts.summary(true);
        if counts.rejected > 0 {
            bail!("{file} ({read_as}) : {summary} ; essai (--dry-run) : rien n'a été publié");
        }
        eprintln!("{file} ({read_as}) : {summary} ; essai (--dry-run) : rien n'a été publié");
        return Ok(());
    }
    let summary = counts.summary(false);
    if counts.rejected > 0 {
        bail!("{file} ({read_as}) : {summary} (détail ci-dessus)");
    }
    eprintln!("{file} ({read_as}) : {summary}, pour {}", publisher.name);
    Ok(())
}

fn status_of(outcome: ImportOutcome) -> &'static str {
    match outcome {
        ImportOutcome::Published => "published",
        ImportOutcome::Updated => "updated",
        ImportOutcome::Unchanged => "unchanged",
    }
}

/// A refusal by the node, on the column its field comes from.
fn refused(header: &Header, Refusal(r): Refusal) -> CellError {
    let column = r
        .field
        .as_deref()
        .map(listing::column_of)
        .and_then(|c| field_of(c.split('/').next().unwrap_or(c)))
        .or(match r.field.as_deref() {
            Some("id") => Some(Field::Id),
            Some("side") => Some(Field::Side),
            _ => None,
        })
        .map_or(String::new(), |f| header.spelling(f).to_owned());
    let message = match r.code.as_str() {
        "withdrawn" => "cette annonce a été retirée : elle n'est pas republiée (changez l'intitulé pour en publier une nouvelle)".to_owned(),
        "wrong_side" => "la ligne désigne une annonce existante de l'autre type (offre ou besoin) : rien n'a été modifié".to_owned(),
        "not_a_member" => format!("la collectivité n'est pas (encore) membre de la fédération : {}", r.message),
        code => match crate::sheet::row::french_local_rule(code) {
            Some(text) => text.to_owned(),
            None => format!("refusée par le nœud : {}", r.message),
        },
    };
    CellError {
        column,
        rule: r.code,
        message,
    }
}

/// How many rows ended how.
struct Counts {
    published: usize,
    updated: usize,
    unchanged: usize,
    rejected: usize,
}

impl Counts {
    fn summary(&self, dry_run: bool) -> String {
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

/// Prints the rows in file order.
fn print_reports(ctx: &Context, reports: &mut [RowReport], file: &str) -> Result<Counts> {
    reports.sort_by_key(|r| r.line);
    let outcome = |o: &str| {
        reports
            .iter()
            .filter(|r| r.status != "rejected" && r.outcome.as_deref() == Some(o))
            .count()
    };
    let counts = Counts {
        published: outcome("published"),
        updated: outcome("updated"),
        unchanged: outcome("unchanged"),
        rejected: reports.iter().filter(|r| r.status == "rejected").count(),
    };
    for r in reports.iter() {
        if ctx.out.json {
            ctx.out.json_line(r)?;
            continue;
        }
        for e in &r.errors {
            let column = if e.column.is_empty() {
                String::new()
            } else {
                format!("colonne « {} » : ", e.column)
            };
            ctx.out.line(format!(
                "{file} : ligne {} : {column}{} (règle : {})",
                r.line, e.message, e.rule
            ))?;
        }
        let done = match r.status {
            "published" => "publiée",
            "updated" => "mise à jour",
            _ => continue,
        };
        if let Some(id) = &r.id {
            ctx.out
                .line(format!("{file} : ligne {} : {done} {id}", r.line))?;
        }
    }
    Ok(counts)
}
