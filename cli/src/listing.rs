//! Listing fields from a file, flags over a file, and the checks with
//! this node's local rules; the fields → content rules themselves are the
//! sheet crate's (`mutua_sheet::fields`), shared with the web page's import.

use anyhow::{Context as _, Result};
use mutua_api::ListingContent;
use mutua_protocol::{PublicKey, RecordError};

pub use mutua_sheet::fields::{column_of, fields_of, to_content};

use crate::args::ListingFields;

/// Fields from a file: the same names as the flags.
pub fn read_file(path: &std::path::Path) -> Result<ListingFields> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        serde_json::from_str(&text).with_context(|| format!("{} (JSON)", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("{} (TOML)", path.display()))
    }
}

/// `base` with every field `over` gives replaced.
pub fn overlay(base: ListingFields, over: ListingFields) -> ListingFields {
    fn pick<T>(over: Option<T>, base: Option<T>) -> Option<T> {
        over.or(base)
    }
    fn list(over: Vec<String>, base: Vec<String>) -> Vec<String> {
        if over.is_empty() {
            base
        } else {
            over
        }
    }
    ListingFields {
        kind: pick(over.kind, base.kind),
        title: pick(over.title, base.title),
        description: pick(over.description, base.description),
        tags: list(over.tags, base.tags),
        insee: pick(over.insee, base.insee),
        at: pick(over.at, base.at),
        radius_km: pick(over.radius_km, base.radius_km),
        capacity: pick(over.capacity, base.capacity),
        pricing: pick(over.pricing, base.pricing),
        amount_eur: pick(over.amount_eur, base.amount_eur),
        per: pick(over.per, base.per),
        convention: pick(over.convention, base.convention),
        contact_role: pick(over.contact_role, base.contact_role),
        contact_email: pick(over.contact_email, base.contact_email),
        contact_phone: pick(over.contact_phone, base.contact_phone),
        contact_url: pick(over.contact_url, base.contact_url),
        available: list(over.available, base.available),
        expires_in_days: pick(over.expires_in_days, base.expires_in_days),
    }
}

/// The node's reference-data rules, as the row and flag checks take them.
pub use mutua_node::local_rules::check_reference_rules as local_rules;

/// [`mutua_sheet::fields::check`] with this node's local rules.
pub fn check(
    content: &ListingContent,
    author: PublicKey,
    now: u64,
    default_days: u64,
) -> Result<(), RecordError> {
    mutua_sheet::fields::check(content, author, now, default_days, local_rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Side;

    /// Import rows and flags are checked against the node's local rules too,
    /// so an unknown code is reported per row with its column.
    #[test]
    fn unknown_codes_are_refused_before_sending() {
        let now = 1_800_000_000;
        let f = ListingFields {
            kind: Some("equipment".into()),
            title: Some("Broyeur de végétaux".into()),
            insee: Some("33999".into()),
            contact_role: Some("Services techniques".into()),
            contact_email: Some("st@mairie.example".into()),
            ..ListingFields::default()
        };
        let content = to_content(Side::Offer, &f, now).unwrap();
        let key = mutua_protocol::SecretKey::from_seed([3; 32]).public();
        let err = check(&content, key, now, 90).unwrap_err();
        assert_eq!(err.code(), "unknown_commune");
        assert_eq!(column_of(err.field().unwrap()), "insee");
    }
}
