//! Idempotent import of listings (`POST /v1/listings/import`, used by
//! `mutua import`): each row is matched to the listing it describes, so that
//! importing the same sheet again publishes nothing, an edited row updates
//! its listing, and an import cut short by a crash, run again, completes the
//! rest without duplicates.
//!
//! How a row is matched, deterministically and without any state kept
//! besides the replica:
//! - a row with an `id` (as `mutua export` writes) is that slot of the
//!   publisher: it updates that listing (or creates it there if the slot is
//!   empty, as when restoring an export);
//! - a row without one gets the slot [`derived_id`]: a hash of the author,
//!   the side, the title (case, accents and spacing aside) and the commune.
//!   Two rows of one file with the same side, title and commune are one
//!   listing (the CLI refuses the second); changing one of the three makes
//!   a new listing, and the old one stays until withdrawn or expired.
//!
//! Then [`plan`] compares with what the slot holds: nothing (or an expired
//! listing) → publish; the same content → unchanged (nothing is signed);
//! other content → a new version; a withdrawal → refused, since a withdrawn
//! listing is not brought back by re-reading an old sheet.

use mutua_api::{ListingContent, Side};
use mutua_protocol::{Listing, ListingId, Payload, PublicKey, SignedRecord, Timestamp};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// Domain separation of derived listing ids (never change: ids would move).
const DERIVED_ID_DOMAIN: &[u8] = b"mutua-import-listing-id-v1\0";

/// An expiry this close to the current one is the same (an expiry given in
/// days from now moves with the clock; an export rounds it up to whole days).
const EXPIRY_TOLERANCE_SECS: u64 = mutua_protocol::rules::DAY_SECS;

/// Lowercase, accents and punctuation removed, spaces collapsed.
pub fn fold_title(title: &str) -> String {
    title
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What identifies a row without id: side, folded title, commune.
pub fn identity(content: &ListingContent) -> String {
    format!(
        "{}\0{}\0{}",
        content.side.as_str(),
        fold_title(&content.title),
        content.location.insee.trim().to_uppercase()
    )
}

/// The slot of a row without id, for `author`.
pub fn derived_id(author: &PublicKey, content: &ListingContent) -> ListingId {
    let digest = Sha256::new()
        .chain_update(DERIVED_ID_DOMAIN)
        .chain_update(author.as_bytes())
        .chain_update(identity(content).as_bytes())
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    mutua_protocol::FixedBytes(id)
}

/// What importing a row into a slot does.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Sign this version (1 for an empty slot).
    Publish { version: u64 },
    /// Sign a new version of a listing whose content differs.
    Update { version: u64 },
    /// The slot holds this content already: sign nothing.
    Unchanged { version: u64 },
    /// The slot holds a withdrawal.
    Withdrawn,
    /// The slot holds the other side (an offer for a need row, or back).
    OtherSide { current: Side },
}

/// Decides what a row does to the slot's current record.
pub fn plan(current: Option<&SignedRecord>, row: &ListingContent, now: Timestamp) -> Plan {
    let (side, listing) = match current.map(SignedRecord::payload) {
        None => return Plan::Publish { version: 1 },
        Some(Payload::Offer(l)) => (Side::Offer, l),
        Some(Payload::Need(l)) => (Side::Need, l),
        Some(Payload::Withdrawal(_)) => return Plan::Withdrawn,
        // A listing slot holds listings and withdrawals only.
        Some(_) => return Plan::Publish { version: 1 },
    };
    if side != row.side {
        return Plan::OtherSide { current: side };
    }
    if listing.expires_at > now && same_content(listing, row) {
        Plan::Unchanged {
            version: listing.version,
        }
    } else {
        Plan::Update {
            version: listing.version + 1,
        }
    }
}

/// Whether a row says what a stored listing says (its expiry within a day,
/// and any expiry when the row gives none).
fn same_content(current: &Listing, row: &ListingContent) -> bool {
    let expiry_same = row
        .expires_at
        .is_none_or(|e| e.abs_diff(current.expires_at) <= EXPIRY_TOLERANCE_SECS);
    expiry_same
        && current.kind == row.kind
        && current.title == row.title
        && current.description == row.description
        && current.tags == row.tags
        && current.location == row.location
        && current.area == row.area
        && current.capacity == row.capacity
        && current.availability == row.availability
        && current.terms == row.terms
        && current.contact == row.contact
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::SecretKey;

    /// An offer titled `title`, every optional field absent, no expiry chosen.
    fn content(title: &str) -> ListingContent {
        let author = mutua_protocol::fixtures::key(9);
        let listing = mutua_protocol::fixtures::minimal_listing(&author, 1, 1);
        ListingContent {
            title: title.into(),
            expires_at: None,
            ..ListingContent::of(Side::Offer, &listing)
        }
    }

    #[test]
    fn derived_ids_ignore_case_accents_and_spacing() {
        let key = SecretKey::from_seed([1; 32]).public();
        let other = SecretKey::from_seed([2; 32]).public();
        let a = derived_id(&key, &content("Broyeur de végétaux"));
        assert_eq!(a, derived_id(&key, &content("  BROYEUR de  vegetaux ")));
        assert_ne!(a, derived_id(&key, &content("Broyeur de branches")));
        assert_ne!(a, derived_id(&other, &content("Broyeur de végétaux")));
        let mut need = content("Broyeur de végétaux");
        need.side = Side::Need;
        assert_ne!(a, derived_id(&key, &need));
        let mut description = content("Broyeur de végétaux");
        description.description = "Avec remorque".into();
        assert_eq!(a, derived_id(&key, &description));
    }

    #[test]
    fn plans_follow_the_slot() {
        let key = SecretKey::from_seed([1; 32]);
        let now = 1_800_000_000;
        let row = content("Nacelle 12 m");
        assert_eq!(plan(None, &row, now), Plan::Publish { version: 1 });
        let id = derived_id(&key.public(), &row);
        let (side, listing) = row
            .clone()
            .into_listing(key.public(), id, 3, now, now + 90 * 86_400);
        let stored = mutua_protocol::seal(&key, &side.payload(listing)).unwrap();
        assert_eq!(
            plan(Some(&stored), &row, now),
            Plan::Unchanged { version: 3 }
        );
        let mut later = row.clone();
        later.expires_at = Some(now + 90 * 86_400 + 3_600);
        assert_eq!(
            plan(Some(&stored), &later, now),
            Plan::Unchanged { version: 3 }
        );
        later.expires_at = Some(now + 120 * 86_400);
        assert_eq!(
            plan(Some(&stored), &later, now),
            Plan::Update { version: 4 }
        );
        let mut edited = row.clone();
        edited.description = "Avec chauffeur".into();
        assert_eq!(
            plan(Some(&stored), &edited, now),
            Plan::Update { version: 4 }
        );
        assert_eq!(
            plan(Some(&stored), &row, now + 91 * 86_400),
            Plan::Update { version: 4 },
            "an expired listing is published again"
        );
        let mut need = row.clone();
        need.side = Side::Need;
        assert_eq!(
            plan(Some(&stored), &need, now),
            Plan::OtherSide {
                current: Side::Offer
            }
        );
        let withdrawal = mutua_protocol::seal(
            &key,
            &Payload::Withdrawal(mutua_protocol::Withdrawal {
                author: key.public(),
                id,
                version: 4,
                withdrawn_at: now,
            }),
        )
        .unwrap();
        assert_eq!(plan(Some(&withdrawal), &row, now), Plan::Withdrawn);
    }
}
