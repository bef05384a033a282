//! `mutua import`: a spreadsheet (CSV/TSV in any encoding office software
//! writes, `.ods`, `.xlsx`) → listings, idempotently.
//!
//! Every row is checked before anything is published (`mutua_sheet::import`,
//! which the web page's import shares: the same file gives the same
//! report): a row is one record, so a bad row is refused whole (never
//! half-published), with every mistake in it reported by line and column.
//! The good rows then go one by one to the node's `POST /v1/listings/import`,
//! which matches each to the listing it describes
//! (`mutua_node::listing_import`): a row already imported is left
//! unchanged, an edited one updates its listing. The report is in French:
//! town-hall staff read it.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mutua_api::ImportRow;
use mutua_sheet::import::{self, Counts, RowReport};

use super::{Context, Hosted};
use crate::args::ImportArgs;
use crate::client::Refusal;
use crate::{dates, listing};

pub fn run(ctx: &Context, args: ImportArgs) -> Result<()> {
    let file = args.file.display().to_string();
    let table = mutua_sheet::read(&args.file)
        .map_err(|e| anyhow::anyhow!("{file} : {e} ; rien n'a été publié"))?;
    let read_as = table.format.clone();

    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let publisher = hosted.publisher(args.publisher.as_deref())?;
    let checked = import::check_table(
        table,
        publisher.key,
        dates::now(),
        listing::local_rules,
        mutua_node::listing_import::identity,
    )
    .map_err(|e| anyhow::anyhow!("{file} : {e} ; rien n'a été publié"))?;
    let mut reports = checked.reports;
    let invalid = reports.len();
    let hold = args.all_or_nothing && invalid > 0;
    let progress = if std::io::stderr().is_terminal() && !ctx.out.json && !hold {
        let bar = ProgressBar::new(checked.good.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} lignes {msg}")
                .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for (line, g) in &checked.good {
        if hold {
            reports.push(RowReport::held(*line));
            continue;
        }
        let row = ImportRow {
            id: g.id.clone(),
            listing: g.content.clone(),
            dry_run: args.dry_run,
        };
        let sent = client.call(|api| api.import_listing(Some(&publisher.name), &row));
        reports.push(match sent {
            Ok(done) => RowReport::done(*line, done.outcome, done.id.to_hex(), args.dry_run),
            Err(e) => match e.downcast::<Refusal>() {
                Ok(Refusal(r)) => RowReport::rejected(
                    *line,
                    vec![import::refused(
                        &checked.header,
                        &r.code,
                        r.field.as_deref(),
                        &r.message,
                    )],
                ),
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

/// Prints the rows in file order.
fn print_reports(ctx: &Context, reports: &mut [RowReport], file: &str) -> Result<Counts> {
    reports.sort_by_key(|r| r.line);
    for r in reports.iter() {
        if ctx.out.json {
            ctx.out.json_line(r)?;
            continue;
        }
        for e in &r.errors {
            ctx.out.line(format!(
                "{file} : ligne {} : {}",
                r.line,
                import::error_line(e)
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
    Ok(Counts::of(reports))
}
