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
use crate::sheet::columns::LAYOUT;
use crate::sheet::written::{self, is_numeric, EXPORT_COLUMNS};

/// The header of an export: each column's first name.
fn header() -> Vec<&'static str> {
    EXPORT_COLUMNS
        .iter()
        .map(|f| {
            LAYOUT
                .iter()
                .find(|c| c.field == *f)
                .map_or("", |c| c.names[0])
        })
        .collect()
}

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
        ExportFormat::Csv => csv(&rows(&items), args.excel)?,
        ExportFormat::Xlsx => xlsx(&rows(&items))?,
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
    let now = dates::now();
    items
        .iter()
        .map(|hit| {
            let l = &hit.listing;
            written::cells(&l.author.key_id(), &l.id.to_hex(), &l.content, now)
        })
        .collect()
}

/// CSV; for French Excel: UTF-8 with a BOM (else Excel reads it as
/// Windows-1252), `;` between fields, decimal commas, CRLF.
fn csv(rows: &[Vec<String>], excel: bool) -> Result<Vec<u8>> {
    let mut buffer = Vec::new();
    if excel {
        buffer.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut writer = csv::WriterBuilder::new()
        .delimiter(if excel { b';' } else { b',' })
        .terminator(if excel {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .from_writer(&mut buffer);
    writer.write_record(header())?;
    for row in rows {
        if excel {
            writer.write_record(row.iter().zip(EXPORT_COLUMNS).map(|(cell, field)| {
                if is_numeric(field) {
                    cell.replace('.', ",")
                } else {
                    cell.clone()
                }
            }))?;
        } else {
            writer.write_record(row)?;
        }
    }
    writer.flush()?;
    drop(writer);
    Ok(buffer)
}

/// A workbook of one sheet, numbers as numbers, ids and codes as text.
fn xlsx(rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Annonces")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (col, name) in header().into_iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, name, &bold)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        for (col, (cell, field)) in row.iter().zip(EXPORT_COLUMNS).enumerate() {
            let col = col as u16;
            match cell.parse::<f64>() {
                Ok(n) if is_numeric(field) => sheet.write_number(r, col, n)?,
                _ if cell.is_empty() => continue,
                _ => sheet.write_string(r, col, cell)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofit();
    Ok(book.save_to_buffer()?)
}
