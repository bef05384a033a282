//! Validation rules on record content. Structural limits (size, depth, item
//! counts, generic string lengths) are enforced by the codec's scan; the rules
//! here are per field. Every failure names the field and the rule.

use crate::codec::SignedRecord;
use crate::codes::{is_valid_departement, is_valid_insee, is_valid_siren};
use crate::error::RecordError;
use crate::keys::PublicKey;
use crate::model::{
    BodyKind, Certificate, Contact, Listing, Payload, Pricing, Revocation, Timestamp, Withdrawal,
};
use ed25519_dalek::VerifyingKey;

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
    check_fields_and_signer(payload).map(|_| ())
}

/// [`check_fields`], returning the decoded key that must have signed the
/// payload, so that opening a record decompresses it only once.
pub(crate) fn check_fields_and_signer(payload: &Payload) -> Result<VerifyingKey, RecordError> {
    match payload {
        Payload::Certificate(c) => check_certificate(c),
        Payload::Revocation(r) => check_revocation(r),
        Payload::Offer(l) => check_listing("offer", l),
        Payload::Need(l) => check_listing("need", l),
        Payload::Withdrawal(w) => check_withdrawal(w),
        Payload::Lending(t) => crate::lending::rules::check_terms(t),
        Payload::Request(r) => crate::lending::rules::check_request(r),
        Payload::Decision(d) => crate::lending::rules::check_decision(d),
        Payload::LoanEvent(e) => crate::lending::rules::check_loan_event(e),
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
        lending => {
            let [(made, made_at), (expiring, expires_at)] =
                crate::lending::rules::time_fields(lending).expect("a lending kind");
            not_future(made, made_at)?;
            not_past(expiring, expires_at)
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

pub(crate) fn invalid(field: String, rule: &'static str, detail: impl Into<String>) -> RecordError {
    debug_assert!(
        crate::error::FIELD_RULES.contains(&rule),
        "{rule} is missing from FIELD_RULES"
    );
    RecordError::Invalid {
        field,
        rule,
        detail: detail.into(),
    }
}

/// A field's dotted name, built only when a rule fails: valid records, the
/// common case, then cost no allocation for names.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    prefix: &'a str,
    name: &'a str,
    index: Option<usize>,
    suffix: &'a str,
}

impl<'a> Field<'a> {
    pub(crate) fn new(prefix: &'a str, name: &'a str) -> Self {
        Field {
            prefix,
            name,
            index: None,
            suffix: "",
        }
    }

    /// The `index`th item of this list field, optionally a sub-field of it.
    fn at(self, index: usize, suffix: &'a str) -> Self {
        Field {
            index: Some(index),
            suffix,
            ..self
        }
    }

    pub(crate) fn render(self) -> String {
        let mut out = format!("{}.{}", self.prefix, self.name);
        if let Some(i) = self.index {
            out.push_str(&format!("[{i}]"));
        }
        out.push_str(self.suffix);
        out
    }
}

/// A key field: a curve point, not of small order.
pub(crate) fn check_key(
    key: &PublicKey,
    field: Field<'_>,
) -> Result<ed25519_dalek::VerifyingKey, RecordError> {
    key.verifying_key("").map_err(|e| match e {
        RecordError::BadKey { .. } => RecordError::BadKey {
            field: field.render(),
        },
        RecordError::WeakKey { .. } => RecordError::WeakKey {
            field: field.render(),
        },
        other => other,
    })
}

/// A text field: length in characters within bounds, no control characters
/// (line breaks and tabs allowed only where `multiline`), no surrounding space.
pub(crate) fn check_text(
    field: Field<'_>,
    value: &str,
    min_chars: usize,
    max_chars: usize,
    multiline: bool,
) -> Result<(), RecordError> {
    let chars = value.chars().count();
    if chars < min_chars {
        return Err(invalid(
            field.render(),
            "too_short",
            format!("must have at least {min_chars} characters, has {chars}"),
        ));
    }
    if chars > max_chars {
        return Err(RecordError::TooLong {
            field: field.render(),
            len: chars,
            max: max_chars,
            unit: crate::error::LengthUnit::Characters,
        });
    }
    if let Some(c) = value
        .chars()
        .find(|&c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    {
        return Err(invalid(
            field.render(),
            "control_character",
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    if value.trim() != value {
        return Err(invalid(
            field.render(),
            "surrounding_space",
            "must not start or end with white space",
        ));
    }
    Ok(())
}

/// An official code: `valid` says whether `value` has the right shape, and
/// `error` builds the rule's error from the field and the value.
fn check_code(
    field: Field<'_>,
    value: &str,
    valid: fn(&str) -> bool,
    error: fn(String, String) -> RecordError,
) -> Result<(), RecordError> {
    if valid(value) {
        Ok(())
    } else {
        Err(error(field.render(), value.to_owned()))
    }
}

fn check_siren(field: Field<'_>, value: &str) -> Result<(), RecordError> {
    check_code(field, value, is_valid_siren, |field, value| {
        RecordError::InvalidSiren { field, value }
    })
}

fn check_insee(field: Field<'_>, value: &str) -> Result<(), RecordError> {
    check_code(field, value, is_valid_insee, |field, value| {
        RecordError::InvalidInsee { field, value }
    })
}

fn check_departement(field: Field<'_>, value: &str) -> Result<(), RecordError> {
    check_code(field, value, is_valid_departement, |field, value| {
        RecordError::InvalidDepartement { field, value }
    })
}

/// `end` must come after `start` (named `start_name`), by at most `max_days`.
pub(crate) fn check_lifetime(
    field: Field<'_>,
    start_name: &str,
    start: Timestamp,
    end: Timestamp,
    max_days: u64,
) -> Result<(), RecordError> {
    if end <= start {
        return Err(invalid(
            field.render(),
            "empty_window",
            format!("must be after {start_name}"),
        ));
    }
    let lifetime = end - start;
    if lifetime > max_days * DAY_SECS {
        return Err(RecordError::ExpiryTooFar {
            field: field.render(),
            days: lifetime / DAY_SECS,
            max_days,
        });
    }
    Ok(())
}

fn check_count(field: Field<'_>, count: usize, max: usize) -> Result<(), RecordError> {
    if count > max {
        Err(RecordError::TooManyItems {
            field: field.render(),
            count,
            max,
        })
    } else {
        Ok(())
    }
}

pub(crate) fn check_version(field: Field<'_>, version: u64) -> Result<(), RecordError> {
    if version == 0 {
        Err(invalid(
            field.render(),
            "out_of_range",
            "versions start at 1",
        ))
    } else {
        Ok(())
    }
}

fn check_certificate(c: &Certificate) -> Result<VerifyingKey, RecordError> {
    let f = |name| Field::new("certificate", name);
    let issuer = check_key(&c.issuer, f("issuer"))?;
    check_key(&c.subject, f("subject"))?;
    if c.issuer == c.subject {
        return Err(invalid(
            f("subject").render(),
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
                f("insee").render(),
                "required",
                "a commune's certificate must carry its INSEE code",
            ))
        }
        (None, _) => {}
    }
    if c.valid_from >= c.valid_until {
        return Err(invalid(
            f("valid_until").render(),
            "empty_window",
            "must be after valid_from",
        ));
    }
    // Bounded from issuance, not from `valid_from`: a certificate could
    // otherwise start years ahead and outlive every revocation of it (a
    // revocation is kept MAX_CERTIFICATE_DAYS after it is made, see
    // `merge::forget_after`).
    check_lifetime(
        f("valid_until"),
        "issued_at",
        c.issued_at,
        c.valid_until,
        MAX_CERTIFICATE_DAYS,
    )?;
    Ok(issuer)
}

fn check_revocation(r: &Revocation) -> Result<VerifyingKey, RecordError> {
    check_key(&r.issuer, Field::new("revocation", "issuer"))
}

fn check_withdrawal(w: &Withdrawal) -> Result<VerifyingKey, RecordError> {
    let author = check_key(&w.author, Field::new("withdrawal", "author"))?;
    check_version(Field::new("withdrawal", "version"), w.version)?;
    Ok(author)
}

fn check_listing(kind: &str, l: &Listing) -> Result<VerifyingKey, RecordError> {
    let f = |name| Field::new(kind, name);
    let author = check_key(&l.author, f("author"))?;
    check_version(f("version"), l.version)?;
    check_text(
        f("title"),
        &l.title,
        MIN_TITLE_CHARS,
        MAX_TITLE_CHARS,
        false,
    )?;
    // Bytes first: within 4000 bytes a text is within 4000 characters, so
    // the byte count is the limit a writer meets, and the one to name.
    if l.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(RecordError::TooLong {
            field: f("description").render(),
            len: l.description.len(),
            max: MAX_DESCRIPTION_BYTES,
            unit: crate::error::LengthUnit::Bytes,
        });
    }
    check_text(
        f("description"),
        &l.description,
        0,
        MAX_DESCRIPTION_BYTES,
        true,
    )?;
    check_count(f("tags"), l.tags.len(), MAX_TAGS)?;
    for (i, tag) in l.tags.iter().enumerate() {
        check_text(f("tags").at(i, ""), tag, 1, MAX_TAG_CHARS, false)?;
        if l.tags[..i].contains(tag) {
            return Err(invalid(
                f("tags").at(i, "").render(),
                "duplicate",
                format!("tag {tag:?} appears twice"),
            ));
        }
    }
    check_insee(f("location.insee"), &l.location.insee)?;
    if let Some(p) = &l.location.point {
        if !(-90_000_000..=90_000_000).contains(&p.lat_e6) {
            return Err(invalid(
                f("location.point.lat_e6").render(),
                "out_of_range",
                "latitude must be within ±90 degrees",
            ));
        }
        if !(-180_000_000..=180_000_000).contains(&p.lon_e6) {
            return Err(invalid(
                f("location.point.lon_e6").render(),
                "out_of_range",
                "longitude must be within ±180 degrees",
            ));
        }
    }
    let area = &l.area;
    type CodeCheck = fn(Field<'_>, &str) -> Result<(), RecordError>;
    for (name, list, check) in [
        ("area.communes", &area.communes, check_insee as CodeCheck),
        ("area.epcis", &area.epcis, check_siren),
        ("area.departements", &area.departements, check_departement),
    ] {
        check_count(f(name), list.len(), MAX_AREA_CODES)?;
        for (i, code) in list.iter().enumerate() {
            check(f(name).at(i, ""), code)?;
        }
    }
    if area.radius_km.is_some_and(|r| r == 0 || r > MAX_RADIUS_KM) {
        return Err(invalid(
            f("area.radius_km").render(),
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
                f("availability").at(i, ".until").render(),
                "empty_window",
                "must be after from",
            ));
        }
    }
    if let Pricing::CostSharing { amount_cents, per } = &l.terms.pricing {
        if *amount_cents > MAX_AMOUNT_CENTS {
            return Err(invalid(
                f("terms.pricing.cost_sharing.amount_cents").render(),
                "out_of_range",
                format!("at most {MAX_AMOUNT_CENTS} cents"),
            ));
        }
        let per_field = f("terms.pricing.cost_sharing.per");
        check_text(per_field, per, 1, MAX_PER_CHARS, false)?;
    }
    check_contact(kind, &l.contact)?;
    check_lifetime(
        f("expires_at"),
        "published_at",
        l.published_at,
        l.expires_at,
        MAX_LIFETIME_DAYS,
    )?;
    Ok(author)
}

pub(crate) fn check_contact(kind: &str, c: &Contact) -> Result<(), RecordError> {
    let f = |name| Field::new(kind, name);
    check_text(f("contact.role"), &c.role, 2, MAX_ROLE_CHARS, false)?;
    if c.email.is_none() && c.phone.is_none() && c.url.is_none() {
        return Err(invalid(
            f("contact.email").render(),
            "required",
            "a contact needs an email, a phone number or a URL",
        ));
    }
    if let Some(email) = &c.email {
        check_text(f("contact.email"), email, 3, MAX_EMAIL_BYTES, false)?;
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
                f("contact.email").render(),
                "email_syntax",
                "must look like role@domain.fr",
            ));
        }
    }
    if let Some(phone) = &c.phone {
        check_text(f("contact.phone"), phone, 4, MAX_PHONE_CHARS, false)?;
        let body = phone.strip_prefix('+').unwrap_or(phone);
        if !body
            .chars()
            .all(|ch| ch.is_ascii_digit() || matches!(ch, ' ' | '.' | '-' | '(' | ')'))
        {
            return Err(invalid(
                f("contact.phone").render(),
                "phone_syntax",
                "only digits, spaces, dots, dashes, brackets and a leading +",
            ));
        }
    }
    if let Some(url) = &c.url {
        check_text(f("contact.url"), url, 8, MAX_URL_BYTES, false)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(' ') {
            return Err(invalid(
                f("contact.url").render(),
                "url_syntax",
                "must be an http(s):// address without spaces",
            ));
        }
    }
    Ok(())
}
