//! Validation rules on record content. Structural limits (size, depth, item
//! counts, generic string lengths) are enforced by the codec's scan; the rules
//! here are per field. Every failure names the field and the rule.

use crate::codec::SignedRecord;
use crate::codes::{is_valid_departement, is_valid_insee, is_valid_siren};
use crate::error::RecordError;
use crate::model::{
    BodyKind, Certificate, Contact, Listing, Payload, Pricing, Revocation, Timestamp, Withdrawal,
};

/// How far in the future a timestamp may lie, for clocks that disagree.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// The longest an offer or need may live: expiry at most this many days after
/// publication (whole days: the bound is `MAX_LIFETIME_DAYS * DAY_SECS` seconds).
pub const MAX_LIFETIME_DAYS: u64 = 400;
/// The longest a certificate may live, from `issued_at` to `valid_until`
/// (one municipal term).
pub const MAX_CERTIFICATE_DAYS: u64 = 6 * 366;
pub const DAY_SECS: u64 = 86_400;

pub const MAX_TITLE_CHARS: usize = 120;
pub const MIN_TITLE_CHARS: usize = 3;
pub const MAX_DESCRIPTION_BYTES: usize = 4000;
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_CHARS: usize = 32;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_CAPACITY_CHARS: usize = 120;
pub const MAX_WINDOWS: usize = 16;
pub const MAX_AREA_CODES: usize = 64;
pub const MAX_RADIUS_KM: u32 = 1000;
pub const MAX_ROLE_CHARS: usize = 80;
pub const MAX_EMAIL_BYTES: usize = 254;
pub const MAX_PHONE_CHARS: usize = 32;
pub const MAX_URL_BYTES: usize = 200;
pub const MAX_PER_CHARS: usize = 40;
/// Ten million euros, in cents: anything above is a typing error.
pub const MAX_AMOUNT_CENTS: u64 = 1_000_000_000;

/// The rules that do not depend on the time: checked when a record is sealed
/// and when it is opened.
pub fn check_fields(payload: &Payload) -> Result<(), RecordError> {
    match payload {
        Payload::Certificate(c) => check_certificate(c),
        Payload::Revocation(r) => check_revocation(r),
        Payload::Offer(l) => check_listing("offer", l),
        Payload::Need(l) => check_listing("need", l),
        Payload::Withdrawal(w) => check_withdrawal(w),
    }
}

/// The rules that depend on the time `now` (seconds since the epoch): nothing
/// from the future beyond the clock skew, nothing already expired.
pub fn check_time(payload: &Payload, now: Timestamp) -> Result<(), RecordError> {
    let kind = payload.kind_name();
    let not_future = |name: &str, t: Timestamp| {
        let limit = now.saturating_add(MAX_CLOCK_SKEW_SECS);
        if t > limit {
            Err(RecordError::FromTheFuture {
                field: format!("{kind}.{name}"),
                ahead_secs: t - now,
                max_skew_secs: MAX_CLOCK_SKEW_SECS,
            })
        } else {
            Ok(())
        }
    };
    let not_past = |name: &str, t: Timestamp| {
        if t <= now {
            Err(RecordError::Expired {
                field: format!("{kind}.{name}"),
            })
        } else {
            Ok(())
        }
    };
    match payload {
        Payload::Certificate(c) => {
            not_future("issued_at", c.issued_at)?;
            not_past("valid_until", c.valid_until)
        }
        Payload::Revocation(r) => not_future("revoked_at", r.revoked_at),
        Payload::Offer(l) | Payload::Need(l) => {
            not_future("published_at", l.published_at)?;
            not_past("expires_at", l.expires_at)
        }
        Payload::Withdrawal(w) => {
            not_future("withdrawn_at", w.withdrawn_at)?;
            // A withdrawal expires when its tombstone may be forgotten.
            not_past("withdrawn_at", tombstone_forget_after(w))
        }
    }
}

/// Every rule a record must pass at time `now`, short of membership.
pub fn check_record(record: &SignedRecord, now: Timestamp) -> Result<(), RecordError> {
    check_fields(record.payload())?;
    check_time(record.payload(), now)
}

/// When a withdrawal may be forgotten: by then every version it withdraws has
/// expired (a version published before the withdrawal expires at most
/// `MAX_LIFETIME_DAYS` after it), so nothing can be resurrected.
pub fn tombstone_forget_after(w: &Withdrawal) -> Timestamp {
    w.withdrawn_at
        .saturating_add(MAX_LIFETIME_DAYS * DAY_SECS)
        .saturating_add(MAX_CLOCK_SKEW_SECS)
}

fn invalid(field: String, rule: &'static str, detail: impl Into<String>) -> RecordError {
    RecordError::Invalid {
        field,
        rule,
        detail: detail.into(),
    }
}

/// A text field: length in characters within bounds, no control characters
/// (line breaks and tabs allowed only where `multiline`), no surrounding space.
fn check_text(
    field: String,
    value: &str,
    min_chars: usize,
    max_chars: usize,
    multiline: bool,
) -> Result<(), RecordError> {
    let chars = value.chars().count();
    if chars < min_chars {
        return Err(invalid(
            field,
            "too_short",
            format!("must have at least {min_chars} characters, has {chars}"),
        ));
    }
    if chars > max_chars {
        return Err(RecordError::TooLong {
            field,
            len: chars,
            max: max_chars,
        });
    }
    if let Some(c) = value
        .chars()
        .find(|&c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    {
        return Err(invalid(
            field,
            "control_character",
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    if value.trim() != value {
        return Err(invalid(
            field,
            "surrounding_space",
            "must not start or end with white space",
        ));
    }
    Ok(())
}

fn check_siren(field: String, value: &str) -> Result<(), RecordError> {
    if is_valid_siren(value) {
        Ok(())
    } else {
        Err(RecordError::InvalidSiren {
            field,
            value: value.to_owned(),
        })
    }
}

fn check_insee(field: String, value: &str) -> Result<(), RecordError> {
    if is_valid_insee(value) {
        Ok(())
    } else {
        Err(RecordError::InvalidInsee {
            field,
            value: value.to_owned(),
        })
    }
}

fn check_count(field: String, count: usize, max: usize) -> Result<(), RecordError> {
    if count > max {
        Err(RecordError::TooManyItems { field, count, max })
    } else {
        Ok(())
    }
}

fn check_certificate(c: &Certificate) -> Result<(), RecordError> {
    let f = |name: &str| format!("certificate.{name}");
    c.issuer.verifying_key(&f("issuer"))?;
    c.subject.verifying_key(&f("subject"))?;
    if c.issuer == c.subject {
        return Err(invalid(
            f("subject"),
            "self_certificate",
            "a key cannot admit itself",
        ));
    }
    check_siren(f("siren"), &c.siren)?;
    check_text(f("name"), &c.name, 1, MAX_NAME_CHARS, false)?;
    match (&c.insee, c.body) {
        (Some(code), _) => check_insee(f("insee"), code)?,
        (None, BodyKind::Commune) => {
            return Err(invalid(
                f("insee"),
                "required",
                "a commune's certificate must carry its INSEE code",
            ))
        }
        (None, _) => {}
    }
    if c.valid_from >= c.valid_until {
        return Err(invalid(
            f("valid_until"),
            "empty_window",
            "must be after valid_from",
        ));
    }
    if c.issued_at >= c.valid_until {
        return Err(invalid(
            f("valid_until"),
            "empty_window",
            "must be after issued_at",
        ));
    }
    // Bounded from issuance, not from `valid_from`: a certificate could
    // otherwise start years ahead and outlive every revocation of it (a
    // revocation is kept MAX_CERTIFICATE_DAYS after it is made, see
    // `merge::forget_after`).
    let lifetime = c.valid_until - c.issued_at;
    if lifetime > MAX_CERTIFICATE_DAYS * DAY_SECS {
        return Err(RecordError::ExpiryTooFar {
            field: f("valid_until"),
            days: lifetime / DAY_SECS,
            max_days: MAX_CERTIFICATE_DAYS,
        });
    }
    Ok(())
}

fn check_revocation(r: &Revocation) -> Result<(), RecordError> {
    r.issuer.verifying_key("revocation.issuer")?;
    Ok(())
}

fn check_version(field: String, version: u64) -> Result<(), RecordError> {
    if version == 0 {
        Err(invalid(field, "out_of_range", "versions start at 1"))
    } else {
        Ok(())
    }
}

fn check_withdrawal(w: &Withdrawal) -> Result<(), RecordError> {
    w.author.verifying_key("withdrawal.author")?;
    check_version("withdrawal.version".into(), w.version)
}

fn check_listing(kind: &str, l: &Listing) -> Result<(), RecordError> {
    let f = |name: &str| format!("{kind}.{name}");
    l.author.verifying_key(&f("author"))?;
    check_version(f("version"), l.version)?;
    check_text(
        f("title"),
        &l.title,
        MIN_TITLE_CHARS,
        MAX_TITLE_CHARS,
        false,
    )?;
    check_text(
        f("description"),
        &l.description,
        0,
        MAX_DESCRIPTION_BYTES,
        true,
    )?;
    if l.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(RecordError::TooLong {
            field: f("description"),
            len: l.description.len(),
            max: MAX_DESCRIPTION_BYTES,
        });
    }
    check_count(f("tags"), l.tags.len(), MAX_TAGS)?;
    for (i, tag) in l.tags.iter().enumerate() {
        check_text(f(&format!("tags[{i}]")), tag, 1, MAX_TAG_CHARS, false)?;
        if l.tags[..i].contains(tag) {
            return Err(invalid(
                f(&format!("tags[{i}]")),
                "duplicate",
                format!("tag {tag:?} appears twice"),
            ));
        }
    }
    check_insee(f("location.insee"), &l.location.insee)?;
    if let Some(p) = &l.location.point {
        if !(-90_000_000..=90_000_000).contains(&p.lat_e6) {
            return Err(invalid(
                f("location.point.lat_e6"),
                "out_of_range",
                "latitude must be within ±90 degrees",
            ));
        }
        if !(-180_000_000..=180_000_000).contains(&p.lon_e6) {
            return Err(invalid(
                f("location.point.lon_e6"),
                "out_of_range",
                "longitude must be within ±180 degrees",
            ));
        }
    }
    let area = &l.area;
    for (name, list) in [
        ("communes", &area.communes),
        ("epcis", &area.epcis),
        ("departements", &area.departements),
    ] {
        check_count(f(&format!("area.{name}")), list.len(), MAX_AREA_CODES)?;
        for (i, code) in list.iter().enumerate() {
            let field = f(&format!("area.{name}[{i}]"));
            match name {
                "communes" => check_insee(field, code)?,
                "epcis" => check_siren(field, code)?,
                _ if !is_valid_departement(code) => {
                    return Err(RecordError::InvalidDepartement {
                        field,
                        value: code.clone(),
                    })
                }
                _ => {}
            }
        }
    }
    if area.radius_km.is_some_and(|r| r == 0 || r > MAX_RADIUS_KM) {
        return Err(invalid(
            f("area.radius_km"),
            "out_of_range",
            format!("must be between 1 and {MAX_RADIUS_KM} km"),
        ));
    }
    if let Some(capacity) = &l.capacity {
        check_text(f("capacity"), capacity, 1, MAX_CAPACITY_CHARS, false)?;
    }
    check_count(f("availability"), l.availability.len(), MAX_WINDOWS)?;
    for (i, w) in l.availability.iter().enumerate() {
        if w.from >= w.until {
            return Err(invalid(
                f(&format!("availability[{i}].until")),
                "empty_window",
                "must be after from",
            ));
        }
    }
    if let Pricing::CostSharing { amount_cents, per } = &l.terms.pricing {
        let field = f("terms.pricing.cost_sharing");
        if *amount_cents > MAX_AMOUNT_CENTS {
            return Err(invalid(
                format!("{field}.amount_cents"),
                "out_of_range",
                format!("at most {MAX_AMOUNT_CENTS} cents"),
            ));
        }
        check_text(format!("{field}.per"), per, 1, MAX_PER_CHARS, false)?;
    }
    check_contact(&f("contact"), &l.contact)?;
    if l.expires_at <= l.published_at {
        return Err(invalid(
            f("expires_at"),
            "empty_window",
            "must be after published_at",
        ));
    }
    let lifetime = l.expires_at - l.published_at;
    if lifetime > MAX_LIFETIME_DAYS * DAY_SECS {
        return Err(RecordError::ExpiryTooFar {
            field: f("expires_at"),
            days: lifetime / DAY_SECS,
            max_days: MAX_LIFETIME_DAYS,
        });
    }
    Ok(())
}

fn check_contact(prefix: &str, c: &Contact) -> Result<(), RecordError> {
    let f = |name: &str| format!("{prefix}.{name}");
    check_text(f("role"), &c.role, 2, MAX_ROLE_CHARS, false)?;
    if c.email.is_none() && c.phone.is_none() && c.url.is_none() {
        return Err(invalid(
            f("email"),
            "required",
            "a contact needs an email, a phone number or a URL",
        ));
    }
    if let Some(email) = &c.email {
        check_text(f("email"), email, 3, MAX_EMAIL_BYTES, false)?;
        let shape_ok = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && !domain.contains('@')
        });
        if !shape_ok {
            return Err(invalid(
                f("email"),
                "email_syntax",
                "must look like role@domain.fr",
            ));
        }
    }
    if let Some(phone) = &c.phone {
        check_text(f("phone"), phone, 4, MAX_PHONE_CHARS, false)?;
        let body = phone.strip_prefix('+').unwrap_or(phone);
        if !body
            .chars()
            .all(|ch| ch.is_ascii_digit() || matches!(ch, ' ' | '.' | '-' | '(' | ')'))
        {
            return Err(invalid(
                f("phone"),
                "phone_syntax",
                "only digits, spaces, dots, dashes, brackets and a leading +",
            ));
        }
    }
    if let Some(url) = &c.url {
        check_text(f("url"), url, 8, MAX_URL_BYTES, false)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(' ') {
            return Err(invalid(
                f("url"),
                "url_syntax",
                "must be an http(s):// address without spaces",
            ));
        }
    }
    Ok(())
}
