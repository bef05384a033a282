//! A dataset's distributions: its live listings as CSV and as JSON.
//!
//! The CSV's columns carry the names `mutua import` reads (its layout's
//! first names), with absolute dates (`expires`, `available` windows
//! `FROM..UNTIL`, last day included) rather than the durations `mutua
//! export` writes, since an open-data file is read long after it was made.
//! So a collectivity can re-import its own distribution (every row is
//! unchanged) and another one can load it as a starting point. Contacts are
//! the listings' role contacts: the protocol carries no person's data.

use mutua_api::Listing;
use mutua_protocol::Pricing;

use crate::dates::date;

/// The CSV's columns, in order.
pub const CSV_COLUMNS: [&str; 24] = [
    "id",
    "side",
    "kind",
    "title",
    "description",
    "tags",
    "insee",
    "lat",
    "lon",
    "radius_km",
    "area_communes",
    "area_epcis",
    "area_departements",
    "capacity",
    "pricing",
    "amount_eur",
    "per",
    "convention",
    "contact_role",
    "contact_email",
    "contact_phone",
    "contact_url",
    "available",
    "expires",
];

/// A listing's cells, in [`CSV_COLUMNS`] order.
fn cells(l: &Listing) -> [String; 24] {
    let c = &l.content;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let (lat, lon) = c
        .location
        .point
        .map_or((String::new(), String::new()), |p| {
            (p.lat().to_string(), p.lon().to_string())
        });
    let (pricing, amount, per) = match &c.terms.pricing {
        Pricing::Free => ("free", String::new(), String::new()),
        Pricing::CostSharing { amount_cents, per } => (
            "cost_sharing",
            format!("{}.{:02}", amount_cents / 100, amount_cents % 100),
            per.clone(),
        ),
    };
    let available: Vec<String> = c
        .availability
        .iter()
        .map(|w| format!("{}..{}", date(w.from), date(w.until.saturating_sub(1))))
        .collect();
    [
        l.id.to_hex(),
        c.side.as_str().to_owned(),
        c.kind.as_str().to_owned(),
        c.title.clone(),
        c.description.clone(),
        c.tags.join(";"),
        c.location.insee.clone(),
        lat,
        lon,
        c.area.radius_km.map(|r| r.to_string()).unwrap_or_default(),
        c.area.communes.join(";"),
        c.area.epcis.join(";"),
        c.area.departements.join(";"),
        text(&c.capacity),
        pricing.to_owned(),
        amount,
        per,
        if c.terms.convention_required {
            "yes"
        } else {
            "no"
        }
        .to_owned(),
        c.contact.role.clone(),
        text(&c.contact.email),
        text(&c.contact.phone),
        text(&c.contact.url),
        available.join(";"),
        c.expires_at.map(date).unwrap_or_default(),
    ]
}

/// The listings as CSV (UTF-8, `,`, a header line).
pub fn csv(listings: &[Listing]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail but for a record of the wrong length,
    // which the fixed-size arrays rule out.
    writer
        .write_record(CSV_COLUMNS)
        .expect("writing CSV to memory");
    for l in listings {
        writer
            .write_record(cells(l))
            .expect("writing CSV to memory");
    }
    writer.into_inner().expect("flushing CSV to memory")
}

/// The listings as JSON: the control API's `Listing` objects, in an array.
pub fn json(listings: &[Listing]) -> Vec<u8> {
    serde_json::to_vec_pretty(listings).expect("listings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_org::tests::sample;
    use mutua_api::Side;
    use mutua_protocol::ResourceKind;

    #[test]
    fn the_csv_has_one_row_per_listing_with_absolute_dates() {
        let l = sample(Side::Offer, ResourceKind::Equipment);
        let text = String::from_utf8(csv(std::slice::from_ref(&l))).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let cell =
            |name: &str| rows[0][CSV_COLUMNS.iter().position(|c| *c == name).unwrap()].to_owned();
        assert_eq!(cell("id"), "ab".repeat(16));
        assert_eq!(cell("amount_eur"), "12.50");
        assert_eq!(cell("available"), "2027-01-16..2027-01-17");
        assert_eq!(cell("expires"), "2027-04-15");
        assert_eq!(cell("tags"), "broyeur;comptoir:461");
        let parsed: Vec<Listing> = serde_json::from_slice(&json(std::slice::from_ref(&l))).unwrap();
        assert_eq!(parsed, [l]);
    }
}
