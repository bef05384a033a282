//! Listing fields as people type them (flags, a TOML/JSON file, a CSV row)
//! → the control API's `ListingContent`, checked locally against the
//! protocol's field rules first so that every mistake names its field.

use anyhow::{anyhow, bail, Context as _, Result};
use mutua_api::ListingContent;
use mutua_protocol::rules::{self, DAY_SECS};
use mutua_protocol::{
    Contact, FixedBytes, GeoPoint, Location, Payload, Pricing, PublicKey, ResourceKind,
    ServiceArea, Terms,
};

use crate::args::{ListingFields, Side};
use crate::dates;

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

fn required(value: Option<&String>, name: &str) -> Result<String> {
    match value.map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(anyhow!("{name} is required")),
    }
}

fn parse_point(text: &str) -> Result<GeoPoint> {
    let (lat, lon) = text
        .split_once(',')
        .ok_or_else(|| anyhow!("at: {text:?} is not LAT,LON (e.g. 44.8378,-0.5792)"))?;
    let number = |s: &str, what| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| anyhow!("at: the {what} {s:?} is not a number"))
    };
    Ok(GeoPoint::from_degrees(
        number(lat, "latitude")?,
        number(lon, "longitude")?,
    ))
}

/// The content to send to the node, from fields as typed. `now` dates the
/// expiry when `expires_in_days` is given.
pub fn to_content(side: Side, f: &ListingFields, now: u64) -> Result<ListingContent> {
    let kind_text = required(f.kind.as_ref(), "kind")?;
    let kind = ResourceKind::parse(&kind_text.replace('-', "_")).ok_or_else(|| {
        anyhow!(
            "kind: {kind_text:?} is not one of {}",
            ResourceKind::names()
        )
    })?;
    let pricing_text = f
        .pricing
        .as_deref()
        .map(|p| p.trim().to_lowercase().replace('-', "_"))
        .filter(|p| !p.is_empty());
    let pricing = match pricing_text.as_deref() {
        Some("free" | "gratuit") => {
            if f.amount_eur.is_some() {
                bail!("amount_eur: a free listing has no amount (remove it, or use pricing cost_sharing)");
            }
            Pricing::Free
        }
        None if f.amount_eur.is_none() => Pricing::Free,
        None | Some("cost_sharing") => {
            let eur = f
                .amount_eur
                .ok_or_else(|| anyhow!("amount_eur is required with pricing cost_sharing"))?;
            if !(eur.is_finite() && eur >= 0.0) {
                bail!("amount_eur: {eur} is not an amount in euros");
            }
            Pricing::CostSharing {
                amount_cents: (eur * 100.0).round() as u64,
                per: required(f.per.as_ref(), "per (what the amount is per: jour, mois…)")?,
            }
        }
        Some(p) => bail!("pricing: {p:?} is not free or cost_sharing"),
    };
    let availability = f
        .available
        .iter()
        .filter(|w| !w.trim().is_empty())
        .map(|w| dates::parse_window(w).map_err(|e| anyhow!("available: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let expires_at = f
        .expires_in_days
        .map(|d| {
            if d == 0 || d > rules::MAX_LIFETIME_DAYS {
                bail!(
                    "expires_in_days: {d} is not between 1 and {}",
                    rules::MAX_LIFETIME_DAYS
                );
            }
            Ok(now + d * DAY_SECS)
        })
        .transpose()?;
    let empty_none = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    Ok(ListingContent {
        side,
        kind,
        title: required(f.title.as_ref(), "title")?,
        description: f.description.as_deref().unwrap_or("").trim().to_owned(),
        tags: f
            .tags
            .iter()
            .flat_map(|t| t.split(';'))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        location: Location {
            insee: required(f.insee.as_ref(), "insee")?.to_uppercase(),
            point: f.at.as_deref().map(parse_point).transpose()?,
        },
        area: ServiceArea {
            radius_km: f.radius_km,
            ..ServiceArea::default()
        },
        capacity: empty_none(&f.capacity),
        availability,
        terms: Terms {
            pricing,
            convention_required: f.convention.unwrap_or(false),
        },
        contact: Contact {
            role: required(f.contact_role.as_ref(), "contact_role")?,
            email: empty_none(&f.contact_email),
            phone: empty_none(&f.contact_phone),
            url: empty_none(&f.contact_url),
        },
        expires_at,
    })
}

/// The fields of existing content (for an update, and for export).
pub fn fields_of(c: &ListingContent, now: u64) -> ListingFields {
    let (pricing, amount_eur, per) = match &c.terms.pricing {
        Pricing::Free => ("free", None, None),
        Pricing::CostSharing { amount_cents, per } => (
            "cost_sharing",
            Some(*amount_cents as f64 / 100.0),
            Some(per.clone()),
        ),
    };
    ListingFields {
        kind: Some(c.kind.as_str().to_owned()),
        title: Some(c.title.clone()),
        description: Some(c.description.clone()),
        tags: c.tags.clone(),
        insee: Some(c.location.insee.clone()),
        at: c.location.point.map(|p| format!("{},{}", p.lat(), p.lon())),
        radius_km: c.area.radius_km,
        capacity: c.capacity.clone(),
        pricing: Some(pricing.to_owned()),
        amount_eur,
        per,
        convention: Some(c.terms.convention_required),
        contact_role: Some(c.contact.role.clone()),
        contact_email: c.contact.email.clone(),
        contact_phone: c.contact.phone.clone(),
        contact_url: c.contact.url.clone(),
        available: c.availability.iter().map(dates::format_window).collect(),
        expires_in_days: c
            .expires_at
            .map(|e| e.saturating_sub(now).div_ceil(DAY_SECS).max(1)),
    }
}

/// Checks content against the protocol's field and time rules and the
/// node's local rules (codes the reference data knows) as `author` would
/// sign it, so a bad value is caught before anything is sent.
pub fn check(
    content: &ListingContent,
    author: PublicKey,
    now: u64,
    default_days: u64,
) -> Result<(), mutua_protocol::RecordError> {
    let (side, listing) = content.clone().into_listing(
        author,
        FixedBytes([0; 16]),
        1,
        now,
        now + default_days * DAY_SECS,
    );
    let payload: Payload = side.payload(listing);
    rules::check_fields(&payload)?;
    rules::check_time(&payload, now)?;
    mutua_node::local_rules::check_reference(&payload).map(drop)
}

/// The column or flag a protocol field path comes from (`offer.contact.role`
/// → `contact_role`).
pub fn column_of(field: &str) -> &'static str {
    let path = field.split_once('.').map_or(field, |(_, rest)| rest);
    let table: [(&str, &'static str); 15] = [
        ("title", "title"),
        ("description", "description"),
        ("tags", "tags"),
        ("location.insee", "insee"),
        ("location.point", "lat/lon"),
        ("area.radius_km", "radius_km"),
        ("capacity", "capacity"),
        ("availability", "available"),
        ("terms.pricing.cost_sharing.amount_cents", "amount_eur"),
        ("terms.pricing.cost_sharing.per", "per"),
        ("contact.role", "contact_role"),
        ("contact.email", "contact_email"),
        ("contact.phone", "contact_phone"),
        ("contact.url", "contact_url"),
        ("expires_at", "expires_in_days"),
    ];
    table
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or("", |(_, column)| column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ListingFields {
        ListingFields {
            kind: Some("equipment".into()),
            title: Some("Broyeur de végétaux".into()),
            insee: Some("33063".into()),
            contact_role: Some("Services techniques".into()),
            contact_email: Some("st@mairie.example".into()),
            tags: vec!["broyeur;espaces verts".into()],
            amount_eur: Some(12.5),
            per: Some("jour".into()),
            available: vec!["2027-03-01..2027-03-31".into()],
            ..ListingFields::default()
        }
    }

    #[test]
    fn fields_make_content_and_back() {
        let now = 1_800_000_000;
        let content = to_content(Side::Offer, &fields(), now).unwrap();
        assert_eq!(content.tags, ["broyeur", "espaces verts"]);
        assert_eq!(
            content.terms.pricing,
            Pricing::CostSharing {
                amount_cents: 1250,
                per: "jour".into()
            }
        );
        let key = mutua_protocol::SecretKey::from_seed([3; 32]).public();
        check(&content, key, now, 90).unwrap();
        let again = to_content(Side::Offer, &fields_of(&content, now), now).unwrap();
        assert_eq!(again, content);
    }

    #[test]
    fn mistakes_name_their_field() {
        let now = 1_800_000_000;
        let mut f = fields();
        f.kind = Some("broyeur".into());
        let err = to_content(Side::Offer, &f, now).unwrap_err().to_string();
        assert!(err.starts_with("kind:"), "{err}");
        let mut f = fields();
        f.title = Some("ab".into());
        let content = to_content(Side::Offer, &f, now).unwrap();
        let key = mutua_protocol::SecretKey::from_seed([3; 32]).public();
        let err = check(&content, key, now, 90).unwrap_err();
        assert_eq!(err.field(), Some("offer.title"));
        assert_eq!(column_of(err.field().unwrap()), "title");
        assert_eq!(column_of("need.contact.email"), "contact_email");
        let mut f = fields();
        f.contact_role = None;
        assert_eq!(
            to_content(Side::Need, &f, now).unwrap_err().to_string(),
            "contact_role is required"
        );
    }

    /// Import rows and flags are checked against the node's local rules too,
    /// so an unknown code is reported per row with its column.
    #[test]
    fn unknown_codes_are_refused_before_sending() {
        let now = 1_800_000_000;
        let mut f = fields();
        f.insee = Some("33999".into());
        let content = to_content(Side::Offer, &f, now).unwrap();
        let key = mutua_protocol::SecretKey::from_seed([3; 32]).public();
        let err = check(&content, key, now, 90).unwrap_err();
        assert_eq!(err.code(), "unknown_commune");
        assert_eq!(column_of(err.field().unwrap()), "insee");
    }
}
