//! What a node checks, beyond the protocol's rules, in what its own
//! publishers sign (API, import, CLI row checks): codes that the reference
//! data does not know are refused, texts with hidden characters and unusable
//! availability windows are refused (`usable`), and a point far from the
//! listing's commune is warned about.
//!
//! Never applied to records received from peers (gossip, sync, import of
//! envelopes): reference data differs between versions (communes merge every
//! year), and a local convenience must not make replicas diverge.

mod usable;

use mutua_protocol::{Listing, Payload, RecordError, Timestamp};
use mutua_store::refdata::reference;
use serde::Serialize;

/// Beyond this distance from its commune's reference point, an explicit
/// point is almost always a typo.
pub const FAR_FROM_COMMUNE_KM: f64 = 50.0;

/// Something worth telling the publisher, which does not stop publication.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

/// Checks a payload that a hosted publisher is about to sign. Only offers
/// and needs have local rules. `now` is when it will be signed.
pub fn check(payload: &Payload, now: Timestamp) -> Result<Vec<Warning>, RecordError> {
    if let Some((kind, listing)) = listing_of(payload) {
        usable::check_listing(kind, listing, now)?;
    }
    check_reference(payload)
}

/// The reference-data rules alone: what a client (the CLI's row checks) can
/// judge before the node gives the listing its expiry.
pub fn check_reference(payload: &Payload) -> Result<Vec<Warning>, RecordError> {
    let Some((kind, listing)) = listing_of(payload) else {
        return Ok(Vec::new());
    };
    check_codes(kind, listing)?;
    Ok(far_point(kind, listing).into_iter().collect())
}

/// [`check_reference`] without its warnings: what a sheet's row checks take
/// (`mutua_sheet::fields::LocalRules`), for the CLI and the web page alike.
pub fn check_reference_rules(payload: &Payload) -> Result<(), RecordError> {
    check_reference(payload).map(drop)
}

fn listing_of(payload: &Payload) -> Option<(&'static str, &Listing)> {
    match payload {
        Payload::Offer(l) => Some(("offer", l)),
        Payload::Need(l) => Some(("need", l)),
        _ => None,
    }
}

fn unknown(field: String, rule: &'static str, detail: String) -> RecordError {
    RecordError::Invalid {
        field,
        rule,
        detail,
    }
}

fn check_codes(kind: &str, l: &Listing) -> Result<(), RecordError> {
    let r = reference();
    let commune = |field: String, code: &str| {
        if r.is_commune(code) {
            Ok(())
        } else {
            Err(unknown(
                field,
                "unknown_commune",
                format!("{code} is not the INSEE code of a commune in the 2026 reference data"),
            ))
        }
    };
    commune(format!("{kind}.location.insee"), &l.location.insee)?;
    for (i, code) in l.area.communes.iter().enumerate() {
        commune(format!("{kind}.area.communes[{i}]"), code)?;
    }
    for (i, code) in l.area.epcis.iter().enumerate() {
        if !r.is_epci(code) {
            return Err(unknown(
                format!("{kind}.area.epcis[{i}]"),
                "unknown_epci",
                format!("{code} is not the SIREN of an EPCI in the 2026 reference data"),
            ));
        }
    }
    for (i, code) in l.area.departements.iter().enumerate() {
        if !r.is_departement(code) {
            return Err(unknown(
                format!("{kind}.area.departements[{i}]"),
                "unknown_departement",
                format!("{code} is not a département in the 2026 reference data"),
            ));
        }
    }
    Ok(())
}

fn far_point(kind: &str, l: &Listing) -> Option<Warning> {
    let point = l.location.point?;
    let centre = reference().position_of(&l.location.insee)?;
    let km = point.distance_km(&centre);
    (km > FAR_FROM_COMMUNE_KM).then(|| {
        let commune = mutua_store::places::places()
            .name_of(&l.location.insee)
            .unwrap_or("");
        Warning {
            code: "far_from_commune",
            field: format!("{kind}.location.point"),
            message: format!(
                "the point {:.5},{:.5} is {km:.0} km from {commune} ({}), the listing's commune: check the latitude and longitude",
                point.lat(),
                point.lon(),
                l.location.insee
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::{fixtures, GeoPoint};

    fn offer(edit: impl FnOnce(&mut Listing)) -> Payload {
        let mut l = fixtures::listing(&fixtures::key(2), 1, 1);
        edit(&mut l);
        Payload::Offer(l)
    }

    /// Checked as if signed when the fixture says it was published.
    fn check_at(payload: &Payload) -> Result<Vec<Warning>, RecordError> {
        let now = match payload {
            Payload::Offer(l) | Payload::Need(l) => l.published_at,
            _ => 0,
        };
        check(payload, now)
    }

    #[test]
    fn unknown_codes_are_refused_with_their_field() {
        let refused = |edit: fn(&mut Listing)| match check_at(&offer(edit)) {
            Err(RecordError::Invalid { field, rule, .. }) => (field, rule),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(|l| l.location.insee = "33999".into()),
            ("offer.location.insee".into(), "unknown_commune")
        );
        assert_eq!(
            refused(|l| l.area.communes = vec!["33063".into(), "33999".into()]),
            ("offer.area.communes[1]".into(), "unknown_commune")
        );
        assert_eq!(
            refused(|l| l.area.epcis = vec!["123456782".into()]),
            ("offer.area.epcis[0]".into(), "unknown_epci")
        );
        // (Every well-formed département code is one in 2026: the protocol
        // refuses the others, so `unknown_departement` guards later vintages.)
        assert_eq!(
            check_at(&offer(|l| l.area.departements = vec!["977".into()])),
            Ok(vec![])
        );
        assert_eq!(check_at(&offer(|_| {})), Ok(vec![]));
    }

    #[test]
    fn a_point_far_from_the_commune_is_warned_about() {
        // Paris for a Bordeaux offer.
        let warnings = check_at(&offer(|l| {
            l.location.point = Some(GeoPoint::from_degrees(48.8566, 2.3522))
        }))
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "offer.location.point");
        assert!(
            warnings[0]
                .message
                .contains("is 497 km from Bordeaux (33063)"),
            "{}",
            warnings[0].message
        );
        // Libourne, 30 km away, is fine; no point at all too.
        for point in [Some(GeoPoint::from_degrees(44.915, -0.2436)), None] {
            assert_eq!(check_at(&offer(|l| l.location.point = point)), Ok(vec![]));
        }
    }
}
