//! Listing fields as people type them (the CLI's flags, a TOML/JSON file,
//! a spreadsheet row) → the control API's `ListingContent`, checked against
//! the protocol's field rules and the node's local rules first, so that
//! every mistake names its field. Messages are in English (the CLI's
//! flags); the sheet's rows say theirs in French ([`crate::row`]).

use mutua_api::{ListingContent, Side};
use mutua_protocol::rules::{self, DAY_SECS};
use mutua_protocol::{
    Contact, FixedBytes, GeoPoint, Location, Payload, Pricing, PublicKey, RecordError,
    ResourceKind, ServiceArea, Terms,
};

use crate::dates;

/// Why fields do not make a listing: the field and the rule, in English.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

type Result<T> = std::result::Result<T, FieldError>;

macro_rules! field_error {
    ($($t:tt)*) => { FieldError(format!($($t)*)) };
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(field_error!($($t)*)) };
}

/// The node's reference-data rules (`mutua_node::local_rules`), which this
/// crate cannot depend on (the node depends on it): the caller passes them.
pub type LocalRules = fn(&Payload) -> std::result::Result<(), RecordError>;

/// Also the shape of a listing file (TOML or JSON): the same names.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct ListingFields {
    /// skill, equipment, software, hosted_service, premises or other.
    #[cfg_attr(feature = "clap", arg(long))]
    pub kind: Option<String>,
    /// 3 to 120 characters.
    #[cfg_attr(feature = "clap", arg(long))]
    pub title: Option<String>,
    #[cfg_attr(feature = "clap", arg(long))]
    pub description: Option<String>,
    /// A tag (repeatable, or ;-separated).
    #[cfg_attr(feature = "clap", arg(long = "tag", value_name = "TAG"))]
    pub tags: Vec<String>,
    /// INSEE code of the commune where the resource is.
    #[cfg_attr(feature = "clap", arg(long))]
    pub insee: Option<String>,
    /// Position as latitude,longitude (degrees) [default: the commune's reference point, for searches].
    #[cfg_attr(feature = "clap", arg(long, value_name = "LAT,LON"))]
    pub at: Option<String>,
    /// Service radius in km.
    #[cfg_attr(feature = "clap", arg(long, value_name = "KM"))]
    pub radius_km: Option<u32>,
    /// Free text, e.g. "2 jours par mois".
    #[cfg_attr(feature = "clap", arg(long))]
    pub capacity: Option<String>,
    /// free or cost-sharing.
    #[cfg_attr(feature = "clap", arg(long))]
    pub pricing: Option<String>,
    /// Cost share in euros, decimal comma or point (12,5 or 12.50).
    #[cfg_attr(feature = "clap", arg(long, value_name = "EUR", allow_hyphen_values = true, value_parser = crate::values::amount_flag))]
    pub amount_eur: Option<f64>,
    /// What the amount is per: jour, mois, utilisation…
    #[cfg_attr(feature = "clap", arg(long))]
    pub per: Option<String>,
    /// A convention between the bodies is required (true/false).
    #[cfg_attr(feature = "clap", arg(long, value_name = "BOOL"))]
    pub convention: Option<bool>,
    /// The contact's role, never a person's name: "Secrétariat de mairie".
    #[cfg_attr(feature = "clap", arg(long))]
    pub contact_role: Option<String>,
    #[cfg_attr(feature = "clap", arg(long))]
    pub contact_email: Option<String>,
    #[cfg_attr(feature = "clap", arg(long))]
    pub contact_phone: Option<String>,
    /// A web page to ask from (a form, a service's page): https://…
    #[cfg_attr(feature = "clap", arg(long, value_name = "URL"))]
    pub contact_url: Option<String>,
    /// Availability window FROM..UNTIL (dates YYYY-MM-DD, repeatable).
    #[cfg_attr(feature = "clap", arg(long = "available", value_name = "FROM..UNTIL"))]
    pub available: Vec<String>,
    /// Expiry in days after publication (at most 400) [default: the node's].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DAYS"))]
    pub expires_in_days: Option<u64>,
}

fn required(value: Option<&String>, name: &str) -> Result<String> {
    match value.map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(field_error!("{name} is required")),
    }
}

fn parse_point(text: &str) -> Result<GeoPoint> {
    let (lat, lon) = text
        .split_once(',')
        .ok_or_else(|| field_error!("at: {text:?} is not LAT,LON (e.g. 44.8378,-0.5792)"))?;
    let number = |s: &str, what| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| field_error!("at: the {what} {s:?} is not a number"))
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
        field_error!(
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
                .ok_or_else(|| field_error!("amount_eur is required with pricing cost_sharing"))?;
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
        .map(|w| dates::parse_window(w).map_err(|e| field_error!("available: {e}")))
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
    local_rules: LocalRules,
) -> std::result::Result<(), RecordError> {
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
    local_rules(&payload)
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

    fn no_local_rules(_: &Payload) -> std::result::Result<(), RecordError> {
        Ok(())
    }

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
        check(&content, key, now, 90, no_local_rules).unwrap();
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
        let err = check(&content, key, now, 90, no_local_rules).unwrap_err();
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
}
