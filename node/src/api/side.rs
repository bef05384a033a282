//! The side (offer or need) a client names must be the listing's: `need
//! withdraw <id>` of an offer is a typo that would purge the wrong record on
//! every node, so update and withdraw refuse it, naming the listing's side.

use axum::http::StatusCode;
use mutua_api::Side;
use mutua_protocol::SignedRecord;

use super::errors::ApiError;

/// Refuses `expected` when the listing in `current` is of the other side
/// (`wrong_side`, 409, field `side`).
pub(super) fn check_side(current: &SignedRecord, expected: Option<Side>) -> Result<(), ApiError> {
    let (Some(expected), Some(actual)) = (expected, Side::of(current.payload())) else {
        return Ok(());
    };
    if expected == actual {
        return Ok(());
    }
    Err(other_side(actual, expected))
}

/// The refusal of a request (an update, a withdrawal, an import row) that
/// names `expected` for a listing that is `actual`.
pub(super) fn other_side(actual: Side, expected: Side) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "wrong_side",
        format!(
            "this listing is {}, not {}: nothing was changed",
            with_article(actual),
            with_article(expected),
        ),
    )
    .with_field("side")
}

fn with_article(side: Side) -> &'static str {
    match side {
        Side::Offer => "an offer",
        Side::Need => "a need",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::Payload;

    #[test]
    fn the_other_side_is_refused_naming_the_listings_side() {
        let key = mutua_protocol::fixtures::key(7);
        let offer = Payload::Offer(mutua_protocol::fixtures::listing(&key, 1, 1));
        let record = mutua_protocol::seal(&key, &offer).unwrap();
        assert!(check_side(&record, Some(Side::Offer)).is_ok());
        assert!(check_side(&record, None).is_ok());
        let refused = check_side(&record, Some(Side::Need)).unwrap_err();
        assert_eq!(refused.code, "wrong_side");
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert!(
            refused.message.contains("is an offer, not a need"),
            "{}",
            refused.message
        );
    }
}
