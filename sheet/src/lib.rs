//! The spreadsheets town halls have, shared by `mutua import`/`export` and
//! the web page's import and export, so that both give the same report for
//! the same file: CSV/TSV in any of the encodings and separators office
//! software writes ([`text`]), native `.ods`, `.xlsx` and `.xls` workbooks
//! (calamine), headers in French ([`columns`]), and cell values in French
//! conventions ([`values`]); [`row`] turns a row into listing content with
//! every mistake of the row reported, [`import`] a whole file, [`written`]
//! listings back into the same columns; [`fields`] is how typed fields
//! (flags, rows) become a listing.
//!
//! Line numbers come from byte offsets (csv's own are one too low with
//! CRLF). After a field fails the protocol's rules, a stand-in replaces it
//! and the rules run again, so a row's every mistake is reported at once.
//! Unknown, duplicate or missing mandatory columns refuse the whole file.
//! Reports are in French. `mutua export --format csv|xlsx` writes the same
//! columns with the `id` (`--excel`: `;`, BOM, decimal commas); fixtures
//! are in `cli/tests/fixtures/`.

pub mod columns;
pub mod dates;
pub mod fields;
pub mod import;
pub mod row;
pub mod text;
pub mod values;
pub mod written;

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader};

/// One record of the file, with the line (spreadsheet row) it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<String>,
}

/// A file read: every record, the header first.
pub struct Table {
    pub rows: Vec<Row>,
    /// How it was read, for the report (`CSV windows-1252, séparateur « ; »`).
    pub format: String,
}

/// Why a file could not be read at all (nothing is published then).
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("lecture impossible : {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Encoding(String),
    #[error("ligne {line} : ligne mal formée ({message})")]
    Malformed { line: u64, message: String },
    #[error("classeur illisible : {0}")]
    Workbook(String),
    #[error("le classeur n'a aucune feuille")]
    NoSheet,
}

/// The extension of a file name, lowercase (`offres.ODS` → `ods`).
fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_lowercase()
}

/// Whether a file name names a workbook (read with calamine) rather than text.
pub fn is_workbook(name: &str) -> bool {
    ["ods", "xlsx", "xlsm", "xls", "xlsb"].contains(&extension(name).as_str())
}

/// Reads every record of a file.
pub fn read(path: &Path) -> Result<Table, SheetError> {
    let bytes = std::fs::read(path)?;
    read_bytes(&path.display().to_string(), bytes)
}

/// Reads every record of a file's bytes; `name` (what the file is called)
/// tells a workbook from text.
pub fn read_bytes(name: &str, bytes: Vec<u8>) -> Result<Table, SheetError> {
    if is_workbook(name) {
        return read_workbook(name, bytes);
    }
    let decoded = text::decode(&bytes)?;
    let separator = text::detect_separator(&decoded.text);
    let rows = text::records(&decoded.text, separator)?;
    let shown = match separator {
        b'\t' => "tabulation".to_owned(),
        s => format!("« {} »", s as char),
    };
    Ok(Table {
        rows,
        format: format!("texte {}, séparateur {shown}", decoded.encoding),
    })
}

/// The first sheet of a workbook; lines are the spreadsheet's row numbers.
fn read_workbook(name: &str, bytes: Vec<u8>) -> Result<Table, SheetError> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| SheetError::Workbook(e.to_string()))?;
    let names = book.sheet_names();
    let range = book
        .worksheet_range_at(0)
        .ok_or(SheetError::NoSheet)?
        .map_err(|e| SheetError::Workbook(e.to_string()))?;
    let first_row = range.start().map_or(0, |(r, _)| r) as u64;
    let first_col = range.start().map_or(0, |(_, c)| c) as usize;
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| Row {
            line: first_row + i as u64 + 1,
            cells: std::iter::repeat_n(String::new(), first_col)
                .chain(cells.iter().map(cell_text))
                .collect(),
        })
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()))
        .collect();
    let kind = extension(name);
    Ok(Table {
        rows,
        format: format!(
            "classeur .{kind}, feuille « {} »",
            names.first().map_or("", String::as_str)
        ),
    })
}

/// A cell as the text the value parsers read: dates as ISO dates, numbers
/// in full (an INSEE code typed as a number stays `33063`).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // A decimal comma: the French parsers never take a lone comma for
        // thousands, as they may a point before three digits.
        Data::Float(f) => f.to_string().replace('.', ","),
        Data::Bool(b) => if *b { "oui" } else { "non" }.to_owned(),
        Data::DateTime(d) if d.is_datetime() => {
            let (y, m, day, ..) = d.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{day:02}")
        }
        Data::DateTime(d) => d.as_f64().to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e}"),
    }
}

/// The long help of `mutua import`: the layout table, how rows are matched
/// to listings, and examples.
pub fn import_help() -> String {
    format!(
        "\
Files: .csv, .tsv or .txt in UTF-8 (with or without BOM), UTF-16 with BOM, Windows-1252 or
ISO-8859-15 (what Excel's \"CSV\" writes in France), separated by ';', ',' or tabs (detected from
the header), LF or CRLF line endings; .ods (LibreOffice) and .xlsx/.xls (Excel): the first sheet.

Columns (a header line, any order, title lines above it skipped; headers are matched ignoring case,
accents, spacing, a trailing '*' and a bracketed unit such as \"(€)\"; empty columns are ignored):
{table}
Values: dates dd/mm/yyyy or yyyy-mm-dd; yes/no as oui/non, vrai/faux, yes/no, 1/0; numbers with a
decimal comma or point and thousands separated by spaces or dots (1 200,50 €); kinds and sides in
French or English.

Every row is checked before anything is published; each mistake of a bad row is reported (in
French) with its line, the column as the file spells it and the rule, and the row is not
published at all. The good rows are published unless --all-or-nothing is given.

Matching (importing again is safe): a row with an `id` updates that listing of the publisher. A
row without one is matched to the listing that the same publisher's import made from a row with
the same side, title (case, accents and spacing aside) and commune: its slot id is derived from
those (node/openapi.yaml, POST /v1/listings/import). A matched listing whose content is the same
is left alone and counted as unchanged (nothing is signed); if it differs, it gets a new
version. So re-importing a file publishes nothing new, an edited description updates its
listing, and an import cut short (a crash, a stopped node) completes without duplicates when run
again. A changed title or commune makes a new listing (withdraw the old one with
`mutua offer withdraw`), two rows with the same side, title and commune are refused, and a
withdrawn listing is not published again.

Examples:
  mutua import offres.csv
  mutua import inventaire.ods --as bordeaux --all-or-nothing
  mutua import offres.xlsx --dry-run --json",
        table = columns::help_table()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Typed cells of a workbook become the text the value parsers read.
    #[test]
    fn workbook_cells_become_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cells.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2027, 3, 15).unwrap();
        let french = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
        sheet.write_string(0, 0, "Disponible du").unwrap();
        sheet.write_string(0, 1, "Montant").unwrap();
        sheet.write_string(0, 2, "Code INSEE").unwrap();
        sheet.write_string(0, 3, "Convention").unwrap();
        sheet
            .write_datetime_with_format(2, 0, &date, &french)
            .unwrap();
        sheet.write_number(2, 1, 120.125).unwrap();
        sheet.write_number(2, 2, 33063).unwrap();
        sheet.write_boolean(2, 3, true).unwrap();
        book.save(&path).unwrap();
        let table = read(&path).unwrap();
        assert!(
            table.format.starts_with("classeur .xlsx"),
            "{}",
            table.format
        );
        // The empty row 2 is skipped; line numbers are the sheet's rows.
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[1].line, 3);
        assert_eq!(
            table.rows[1].cells,
            ["2027-03-15", "120,125", "33063", "oui"]
        );
        assert_eq!(values::parse_decimal(&table.rows[1].cells[1]), Ok(120.125));
    }
}
