//! Local rules on what makes a listing usable: no hidden characters in its
//! texts, no availability window that nobody can use. A refusal names the
//! field and the rule, like a protocol rule.

use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{Listing, Pricing, RecordError, Timestamp};

use crate::visible;

/// Refuses hidden characters in any text, and availability windows that
/// can never be used (over before now, or starting once the listing has
/// expired).
/// Field paths start with `kind` (`offer`, `need`), as the protocol's do.
pub(super) fn check_listing(
    kind: &str,
    listing: &Listing,
    now: Timestamp,
) -> Result<(), RecordError> {
    check_texts(listing)
        .and_then(|()| check_windows(listing, now))
        .map_err(|e| match e {
            RecordError::Invalid {
                field,
                rule,
                detail,
            } => refusal(rule, format!("{kind}.{field}"), detail),
            other => other,
        })
}

fn refusal(rule: &'static str, field: String, detail: String) -> RecordError {
    RecordError::Invalid {
        field,
        rule,
        detail,
    }
}

fn check_texts(l: &Listing) -> Result<(), RecordError> {
    let mut texts: Vec<(String, &str)> = vec![
        ("title".into(), &l.title),
        ("description".into(), &l.description),
        ("contact.role".into(), &l.contact.role),
    ];
    texts.extend(
        l.tags
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("tags[{i}]"), t.as_str())),
    );
    for (field, value) in [
        ("capacity", &l.capacity),
        ("contact.email", &l.contact.email),
        ("contact.phone", &l.contact.phone),
        ("contact.url", &l.contact.url),
    ] {
        if let Some(value) = value {
            texts.push((field.into(), value));
        }
    }
    if let Pricing::CostSharing { per, .. } = &l.terms.pricing {
        texts.push(("terms.pricing.cost_sharing.per".into(), per));
    }
    for (field, value) in texts {
        if let Some((at, c)) = visible::find_hidden(value) {
            return Err(refusal(
                "hidden_character",
                field,
                format!(
                    "holds an invisible or direction-changing character, U+{:04X} {}, at character \
                     {at}: it makes the text read differently from what it says; remove it",
                    c as u32,
                    visible::name(c),
                ),
            ));
        }
    }
    Ok(())
}

fn check_windows(l: &Listing, now: Timestamp) -> Result<(), RecordError> {
    let days = |secs: u64| secs.div_ceil(DAY_SECS);
    for (i, w) in l.availability.iter().enumerate() {
        let number = i + 1;
        if w.until <= now {
            return Err(refusal(
                "window_in_past",
                format!("availability[{i}].until"),
                format!(
                    "availability window {number} ended {} day(s) ago: nobody can use it; give \
                     dates to come",
                    days(now - w.until).max(1)
                ),
            ));
        }
        if w.from >= l.expires_at {
            return Err(refusal(
                "window_after_expiry",
                format!("availability[{i}].from"),
                format!(
                    "availability window {number} starts {} day(s) after the listing expires (it \
                     expires in {} day(s)): nobody would see it then; let the listing live longer \
                     (expires_at, at most {} days) or give an earlier window",
                    days(w.from - l.expires_at).max(1),
                    days(l.expires_at.saturating_sub(now)),
                    mutua_protocol::rules::MAX_LIFETIME_DAYS,
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::Window;

    fn listing(now: Timestamp) -> Listing {
        let mut l = mutua_protocol::fixtures::listing(&mutua_protocol::fixtures::key(1), 1, 1);
        l.published_at = now;
        l.expires_at = now + 90 * DAY_SECS;
        l.availability = vec![];
        l
    }

    #[test]
    fn hidden_characters_are_refused_naming_field_and_character_emoji_pass() {
        let now = 1_800_000_000;
        let mut l = listing(now);
        l.title = "Broyeur 🌿 👩\u{200D}🌾".into();
        assert!(check_listing("offer", &l, now).is_ok());
        l.title = "Broyeur \u{202E}ruoyorb".into();
        let e = check_listing("offer", &l, now).unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("hidden_character", Some("offer.title"))
        );
        assert!(
            e.to_string()
                .contains("U+202E RIGHT-TO-LEFT OVERRIDE, at character 9"),
            "{e}"
        );
        l.title = "Broyeur".into();
        l.tags = vec!["ok".into(), "bro\u{200B}yeur".into()];
        let e = check_listing("offer", &l, now).unwrap_err();
        assert_eq!(e.field(), Some("offer.tags[1]"));
    }

    #[test]
    fn windows_in_the_past_or_after_expiry_are_refused_with_the_rule() {
        let now = 1_800_000_000;
        let mut l = listing(now);
        l.availability = vec![Window {
            from: now - 10 * DAY_SECS,
            until: now + DAY_SECS,
        }];
        assert!(
            check_listing("offer", &l, now).is_ok(),
            "a window under way is fine"
        );
        l.availability = vec![Window {
            from: now - 10 * DAY_SECS,
            until: now - 3 * DAY_SECS,
        }];
        let e = check_listing("offer", &l, now).unwrap_err();
        assert_eq!(e.code(), "window_in_past");
        assert!(e.to_string().contains("ended 3 day(s) ago"), "{e}");
        l.availability = vec![Window {
            from: l.expires_at + 15 * DAY_SECS,
            until: l.expires_at + 20 * DAY_SECS,
        }];
        let e = check_listing("offer", &l, now).unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("window_after_expiry", Some("offer.availability[0].from"))
        );
        assert!(
            e.to_string()
                .contains("starts 15 day(s) after the listing expires (it expires in 90 day(s))"),
            "{e}"
        );
    }
}
