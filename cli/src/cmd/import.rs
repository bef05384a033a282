//! `mutua import` (CSV → listings) and `mutua export` (listings → CSV/JSON).
//!
//! Import checks every row before publishing any: a row is one record, so a
//! bad row is refused whole (never half-published) and reported with its
//! line, column and rule; the good rows are then published one by one, and
//! a refusal by the node is reported the same way.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mutua_node::api::json::ListingContent;
use serde::Serialize;

use super::federation::Published;
use super::listings::{all_pages, content_of};
use super::{with_as, Context, Status};
use crate::args::{ExportArgs, ExportFormat, ImportArgs};
use crate::client::Refusal;
use crate::dates;
use crate::listing::{self, CsvRow};

/// The columns a file must have.
const MANDATORY: [&str; 5] = ["side", "kind", "title", "insee", "contact_role"];

/// What happened to one row.
#[derive(Serialize)]
struct RowReport {
    line: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl RowReport {
    fn rejected(line: u64, column: &str, rule: &str, message: String) -> Self {
        RowReport {
            line,
            status: "rejected",
            id: None,
            column: (!column.is_empty()).then(|| column.to_owned()),
            rule: Some(rule.to_owned()),
            message: Some(message),
        }
    }

    fn text(&self) -> String {
        let mut t = format!("line {}: ", self.line);
        let mut message = self.message.as_deref().unwrap_or("");
        if let Some(c) = &self.column {
            t.push_str(&format!("column {c}: "));
            message = message.strip_prefix(&format!("{c}: ")).unwrap_or(message);
        }
        t.push_str(message);
        if let Some(r) = &self.rule {
            t.push_str(&format!(" (rule: {r})"));
        }
        t
    }
}

/// The column a message from `listing::to_content` is about ("title is
/// required", "kind: …").
fn column_in(message: &str) -> &str {
    let head = message.split([':', ' ']).next().unwrap_or("");
    if listing::CSV_COLUMNS.contains(&head) || head == "lat/lon" {
        head
    } else {
        ""
    }
}

/// Checks one row as `author` would sign it.
fn check_row(
    row: &csv::StringRecord,
    header: &csv::StringRecord,
    line: u64,
    author: &str,
) -> Result<ListingContent, RowReport> {
    let parsed: CsvRow = row
        .deserialize(Some(header))
        .map_err(|e| RowReport::rejected(line, "", "malformed_row", e.to_string()))?;
    let now = dates::now();
    let (side, fields) = parsed.to_fields().map_err(|e| {
        let m = e.to_string();
        RowReport::rejected(line, column_in(&m), "invalid_value", m.clone())
    })?;
    let content = listing::to_content(side, &fields, now).map_err(|e| {
        let m = e.to_string();
        let rule = if m.ends_with("is required") {
            "required"
        } else {
            "invalid_value"
        };
        RowReport::rejected(line, column_in(&m), rule, m.clone())
    })?;
    let key = author
        .parse()
        .map_err(|e| RowReport::rejected(line, "", "bad_key", format!("{e}")))?;
    listing::check(&content, key, now, 1).map_err(|e| {
        RowReport::rejected(
            line,
            e.field().map(listing::column_of).unwrap_or(""),
            e.code(),
            e.to_string(),
        )
    })?;
    Ok(content)
}

pub fn run(ctx: &Context, args: ImportArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(listing::detect_delimiter(text))
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: csv::StringRecord = reader
        .headers()
        .with_context(|| format!("{}: no header line", args.file.display()))?
        .iter()
        .map(str::trim)
        .collect();
    let unknown = listing::unknown_columns(&header);
    if !unknown.is_empty() {
        bail!(
            "{}: unknown column(s) {} (the columns are listed by `mutua import --help`); nothing was published",
            args.file.display(),
            unknown.join(", ")
        );
    }
    let dups = listing::duplicate_columns(&header);
    if !dups.is_empty() {
        bail!(
            "{}: column(s) {} appear twice; nothing was published",
            args.file.display(),
            dups.join(", ")
        );
    }
    let missing: Vec<&str> = MANDATORY
        .into_iter()
        .filter(|m| !header.iter().any(|h| h == *m))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: missing column(s) {}; nothing was published",
            args.file.display(),
            missing.join(", ")
        );
    }

    let client = ctx.client()?;
    let status = Status::fetch(&client)?;
    let publisher = status.publisher(args.publisher.as_deref())?;

    let mut reports: Vec<RowReport> = Vec::new();
    let mut good: Vec<(u64, ListingContent)> = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                reports.push(RowReport::rejected(
                    line,
                    "",
                    "malformed_row",
                    e.to_string(),
                ));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if row.len() != header.len() {
            reports.push(RowReport::rejected(
                line,
                "",
                "malformed_row",
                format!("{} fields where the header has {}", row.len(), header.len()),
            ));
            continue;
        }
        match check_row(&row, &header, line, &publisher.key) {
            Ok(content) => good.push((line, content)),
            Err(report) => reports.push(report),
        }
    }
    let invalid = reports.len();
    let hold = args.dry_run || (args.all_or_nothing && invalid > 0);
    if hold {
        reports.extend(good.iter().map(|(line, _)| RowReport {
            line: *line,
            status: "valid",
            id: None,
            column: None,
            rule: None,
            message: None,
        }));
    } else {
        let progress = if std::io::stderr().is_terminal() && !ctx.out.json {
            let bar = ProgressBar::new(good.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg}")
                    .expect("a valid template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        let path = with_as("/v1/listings", Some(&publisher.name));
        for (line, content) in &good {
            let sent: Result<Published> = client.post(&path, &serde_json::to_value(content)?);
            reports.push(match sent {
                Ok(p) => RowReport {
                    line: *line,
                    status: "published",
                    id: p.record["id"].as_str().map(str::to_owned),
                    column: None,
                    rule: None,
                    message: None,
                },
                Err(e) => match e.downcast::<Refusal>() {
                    Ok(r) => RowReport::rejected(
                        *line,
                        r.field.as_deref().map(listing::column_of).unwrap_or(""),
                        &r.code,
                        r.message,
                    ),
                    // The node stopped or failed: stop here, and say what went in.
                    Err(e) => {
                        progress.abandon();
                        print_reports(ctx, &mut reports, &args.file)?;
                        return Err(e.context(format!("publishing line {line}; the lines reported above as published are in")));
                    }
                },
            });
            progress.inc(1);
        }
        progress.finish_and_clear();
    }
    let (published, rejected) = print_reports(ctx, &mut reports, &args.file)?;
    let file = args.file.display();
    if args.dry_run {
        if rejected > 0 {
            bail!("{file}: {rejected} invalid row(s); dry run, nothing was published");
        }
        eprintln!(
            "{file}: all {} row(s) are valid; dry run, nothing was published",
            good.len()
        );
        return Ok(());
    }
    if hold {
        bail!("{file}: {invalid} invalid row(s) and --all-or-nothing: nothing was published");
    }
    if rejected > 0 {
        bail!("{file}: {published} row(s) published, {rejected} rejected (listed above)");
    }
    eprintln!("{file}: {published} row(s) published as {}", publisher.name);
    Ok(())
}

/// Prints the rows in file order; returns (published, rejected).
fn print_reports(
    ctx: &Context,
    reports: &mut [RowReport],
    file: &std::path::Path,
) -> Result<(usize, usize)> {
    reports.sort_by_key(|r| r.line);
    let count = |s| reports.iter().filter(|r| r.status == s).count();
    for r in reports.iter() {
        if ctx.out.json {
            ctx.out.json_line(r)?;
        } else if r.status == "rejected" {
            ctx.out.line(format!("{}: {}", file.display(), r.text()))?;
        } else if let Some(id) = &r.id {
            ctx.out.line(format!(
                "{}: line {}: published {id}",
                file.display(),
                r.line
            ))?;
        }
    }
    Ok((count("published"), count("rejected")))
}

pub fn export(ctx: &Context, args: ExportArgs) -> Result<()> {
    let client = ctx.reader()?;
    let mut params = Vec::new();
    if args.mine {
        let status = Status::fetch(&client)?;
        let keys: Vec<&str> = status.publishers.iter().map(|p| p.key.as_str()).collect();
        if keys.is_empty() {
            bail!("this node hosts no publisher, so --mine exports nothing");
        }
        params.push(("author", keys.join(",")));
    }
    let items = all_pages(&client, &params)?;
    let mut buffer = Vec::new();
    match args.format {
        ExportFormat::Json => {
            for item in &items {
                serde_json::to_writer(&mut buffer, item)?;
                buffer.push(b'\n');
            }
        }
        ExportFormat::Csv => {
            let now = dates::now();
            let mut writer = csv::Writer::from_writer(&mut buffer);
            for item in &items {
                let content = content_of(item)?;
                let s = |k: &str| item[k].as_str().unwrap_or("").to_owned();
                writer.serialize(CsvRow::of(&s("author"), &s("id"), &content, now))?;
            }
            if items.is_empty() {
                writer.write_record(listing::CSV_COLUMNS)?;
            }
            writer.flush()?;
        }
    }
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
