//! The rows `mutua export` and the web page's export write for listings:
//! every field of the layout that a listing has, under the first name of
//! each column (so an export imports back with nothing lost, and with the
//! `id` that makes the import update the same listing), as CSV (plain, or
//! as French Excel opens it) or an `.xlsx` workbook.

use mutua_api::ListingContent;
use mutua_protocol::Pricing;

use crate::columns::{Field, LAYOUT};
use crate::fields::fields_of;

/// The columns of an export, in order.
pub const EXPORT_COLUMNS: [Field; 25] = [
    Field::Author,
    Field::Id,
    Field::Side,
    Field::Kind,
    Field::Title,
    Field::Description,
    Field::Tags,
    Field::Insee,
    Field::Lat,
    Field::Lon,
    Field::RadiusKm,
    Field::AreaCommunes,
    Field::AreaEpcis,
    Field::AreaDepartements,
    Field::Capacity,
    Field::Pricing,
    Field::AmountEur,
    Field::Per,
    Field::Convention,
    Field::ContactRole,
    Field::ContactEmail,
    Field::ContactPhone,
    Field::ContactUrl,
    Field::Available,
    Field::ExpiresInDays,
];

/// Columns holding numbers: numbers in a workbook, decimal commas for
/// French Excel.
pub fn is_numeric(field: Field) -> bool {
    matches!(
        field,
        Field::Lat | Field::Lon | Field::RadiusKm | Field::AmountEur | Field::ExpiresInDays
    )
}

/// The cells of a listing, in [`EXPORT_COLUMNS`] order; `now` dates
/// `expires_in_days`.
pub fn cells(author: &str, id: &str, c: &ListingContent, now: u64) -> Vec<String> {
    let f = fields_of(c, now);
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let (lat, lon) = c
        .location
        .point
        .map_or((String::new(), String::new()), |p| {
            (p.lat().to_string(), p.lon().to_string())
        });
    EXPORT_COLUMNS
        .iter()
        .map(|field| match field {
            Field::Author => author.to_owned(),
            Field::Id => id.to_owned(),
            Field::Side => c.side.as_str().to_owned(),
            Field::Kind => c.kind.as_str().to_owned(),
            Field::Title => c.title.clone(),
            Field::Description => c.description.clone(),
            Field::Tags => c.tags.join(";"),
            Field::Insee => c.location.insee.clone(),
            Field::Lat => lat.clone(),
            Field::Lon => lon.clone(),
            Field::RadiusKm => c.area.radius_km.map(|r| r.to_string()).unwrap_or_default(),
            Field::AreaCommunes => c.area.communes.join(";"),
            Field::AreaEpcis => c.area.epcis.join(";"),
            Field::AreaDepartements => c.area.departements.join(";"),
            Field::Capacity => text(&c.capacity),
            Field::Pricing => match c.terms.pricing {
                Pricing::Free => "free",
                Pricing::CostSharing { .. } => "cost_sharing",
            }
            .to_owned(),
            Field::AmountEur => f.amount_eur.map(|a| format!("{a:.2}")).unwrap_or_default(),
            Field::Per => text(&f.per),
            Field::Convention => if c.terms.convention_required {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            Field::ContactRole => c.contact.role.clone(),
            Field::ContactEmail => text(&c.contact.email),
            Field::ContactPhone => text(&c.contact.phone),
            Field::ContactUrl => text(&c.contact.url),
            Field::Available => f.available.join(";"),
            Field::ExpiresInDays => f.expires_in_days.map(|d| d.to_string()).unwrap_or_default(),
            Field::AvailableFrom | Field::AvailableUntil | Field::Expires => String::new(),
        })
        .collect()
}

/// The cells of each listing, in [`EXPORT_COLUMNS`] order.
pub fn rows<'a>(
    listings: impl IntoIterator<Item = &'a mutua_api::Listing>,
    now: u64,
) -> Vec<Vec<String>> {
    listings
        .into_iter()
        .map(|l| cells(&l.author.key_id(), &l.id.to_hex(), &l.content, now))
        .collect()
}

/// The header of an export: each column's first name.
pub fn header() -> Vec<&'static str> {
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

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the CSV: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// CSV of [`cells`] rows; for French Excel: UTF-8 with a BOM (else Excel
/// reads it as Windows-1252), `;` between fields, decimal commas, CRLF.
pub fn csv(rows: &[Vec<String>], excel: bool) -> Result<Vec<u8>, WriteError> {
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

/// A workbook of one sheet of [`cells`] rows, numbers as numbers, ids and
/// codes as text.
pub fn xlsx(rows: &[Vec<String>]) -> Result<Vec<u8>, WriteError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Header;
    use crate::row::{check, RowContext};
    use crate::Row;

    /// Every field a listing has survives export → import.
    #[test]
    fn an_exported_row_imports_back_whole() {
        let key = mutua_protocol::SecretKey::from_seed([3; 32]).public();
        let now = 1_800_000_000;
        let header: Vec<String> = EXPORT_COLUMNS
            .iter()
            .map(|f| LAYOUT.iter().find(|c| c.field == *f).unwrap().names[0].to_owned())
            .collect();
        let header = Header::parse(&header).unwrap();
        let source = Row {
            line: 2,
            cells: [
                "",
                "",
                "offre",
                "Matériel",
                "Nacelle 12 m",
                "Avec chauffeur",
                "nacelle;élagage",
                "33063",
                "44.838",
                "-0.579",
                "30",
                "33063;33318",
                "243300316",
                "33;40",
                "1 jour",
                "",
                "12,5",
                "jour",
                "oui",
                "Services techniques",
                "st@x.example",
                "05 56 10 20 30",
                "https://mairie.example/nacelle",
                "2027-03-01..2027-03-31",
                "90",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let ctx = RowContext {
            header: &header,
            author: key,
            now,
            local_rules: |_| Ok(()),
        };
        let content = check(&ctx, &source).unwrap().content;
        assert_eq!(content.area.epcis, ["243300316"]);
        assert_eq!(
            content.contact.url.as_deref(),
            Some("https://mairie.example/nacelle")
        );
        let written = Row {
            line: 2,
            cells: cells("", "", &content, now),
        };
        let again = check(&ctx, &written).unwrap().content;
        assert_eq!(again, content);
    }
}
