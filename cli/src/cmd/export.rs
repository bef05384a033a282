//! `mutua export`: listings → the import layout as CSV (plain, or as French
//! Excel opens it), an `.xlsx` workbook, or JSON lines. What it writes,
//! `mutua import` reads back: the `id` column makes a re-import update the
//! same listings.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context as _, Result};

use mutua_api::{Hit, RecordsQuery};

use super::listings::{all_pages, author_filter};
use super::{Context, Hosted};
use crate::args::{ExportArgs, ExportFormat};
use crate::dates;
use crate::output::sorted;
use mutua_sheet::written;

pub fn run(ctx: &Context, args: ExportArgs) -> Result<()> {
    if args.excel && !matches!(args.format, ExportFormat::Csv) {
        bail!("--excel is an option of --format csv");
    }
    if matches!(args.format, ExportFormat::Xlsx)
        && args.output.is_none()
        && std::io::stdout().is_terminal()
    {
        bail!("an .xlsx workbook is binary: write it to a file with --output FILE.xlsx");
    }
    let client = ctx.reader()?;
    let mut query = RecordsQuery::default();
    if args.mine {
        let keys = Hosted::fetch(&client)?.keys(None)?;
        if keys.is_empty() {
            bail!("this node hosts no publisher, so --mine exports nothing");
        }
        query.author = Some(author_filter(&keys));
    }
    let items = all_pages(&client, &query)?;
    let buffer = match args.format {
        ExportFormat::Json => {
            let mut buffer = Vec::new();
            for item in &items {
                serde_json::to_writer(&mut buffer, &sorted(item)?)?;
                buffer.push(b'\n');
            }
            buffer
        }
        ExportFormat::Csv => written::csv(&rows(&items), args.excel)?,
        ExportFormat::Xlsx => written::xlsx(&rows(&items))?,
        ExportFormat::Jsonld => super::opendata::jsonld(ctx, &client, &items)?,
        ExportFormat::Dcat => super::opendata::dcat(ctx, &client, &items)?,
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &buffer).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{} listing(s) written to {}", items.len(), path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&buffer)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Each listing as the cells of the import layout, in column order.
fn rows(items: &[Hit]) -> Vec<Vec<String>> {
    written::rows(items.iter().map(|hit| &hit.listing), dates::now())
}
