//! The query's types, and what validates them; the query itself runs on
//! the search index (`index::search`).
//!
//! Served listings are live: not expired at `now` (checked before the
//! sweep) and authored by a current member (the cached member set), checked
//! in the index and again on each hit's record in sled.
//!
//! Pages end with a cursor holding the sort key of their last hit; the next
//! page starts strictly after it. Listings applied while paging land before
//! or after the cursor but never shift it, so a listing that stays
//! unchanged throughout is returned exactly once. A listing replaced by a
//! newer version moves and may be seen twice or, if withdrawn, not at all.

use std::fmt;
use std::str::FromStr;

use mutua_protocol::codes::{is_valid_departement, is_valid_insee, is_valid_siren};
use mutua_protocol::lending::{Period, MAX_CAPACITY};
use mutua_protocol::{GeoPoint, Payload, PublicKey, RecordHash, ResourceKind, SlotKey, Timestamp};

use crate::error::QueryError;
use crate::refdata::reference;
use crate::Store;

/// The most hits one page may ask for.
pub const MAX_LIMIT: usize = 500;
/// The widest radius accepted, in km.
pub const MAX_RADIUS_KM: f64 = 1000.0;

/// Offers, needs or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Side {
    Offers,
    Needs,
    #[default]
    Both,
}

/// An administrative area: listings located in it or serving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Area {
    /// An INSEE commune code: listings located in the commune or listing it
    /// in their service area.
    Commune(String),
    /// An EPCI SIREN: listings located in one of its communes or listing it.
    Epci(String),
    /// A département code: listings located in it or listing it.
    Departement(String),
}

/// The centre of a radius search.
#[derive(Clone, Debug, PartialEq)]
pub enum Center {
    Point(GeoPoint),
    /// A commune, at its reference point (`places::Places::resolve` turns
    /// names and postal codes into points).
    Commune(String),
}

/// Listings whose point lies within `radius_km` of the centre.
#[derive(Clone, Debug, PartialEq)]
pub struct Near {
    pub center: Center,
    pub radius_km: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest publication first.
    #[default]
    Recency,
    /// Nearest first (needs `near`).
    Distance,
    /// Best BM25 match of `text` first, then newest.
    Relevance,
}

/// Filters combine with AND; within `kinds` and `authors`, OR; every tag and
/// every word of `text` must match.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub side: Side,
    pub kinds: Vec<ResourceKind>,
    pub tags: Vec<String>,
    pub authors: Vec<PublicKey>,
    /// Words matched case- and accent-insensitively against title,
    /// description and tags.
    pub text: Option<String>,
    pub area: Option<Area>,
    pub near: Option<Near>,
    /// Available at this time (inside an availability window, or any time
    /// before expiry when the listing gives none).
    pub available_at: Option<Timestamp>,
    /// Free for the whole of a period (see [`FreeFor`]).
    pub free: Option<FreeFor>,
    pub sort: Sort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            side: Side::Both,
            kinds: Vec::new(),
            tags: Vec::new(),
            authors: Vec::new(),
            text: None,
            area: None,
            near: None,
            available_at: None,
            free: None,
            sort: Sort::Recency,
            limit: 20,
            cursor: None,
        }
    }
}

/// Listings free for the whole of `period` (whole days): alive until its
/// end and inside their availability windows taken together (any day
/// before expiry when they give none), and, for an offer, a loan of
/// `quantity` units over the period fits its calendar — the accepted loans
/// that hold, with the turnaround buffer after each and after this one
/// (`mutua_protocol::lending::calendar::Calendar::fits`). Needs are never
/// booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeFor {
    pub period: Period,
    pub quantity: u32,
}

/// Where the next page starts: opaque, printable (hex), tied to a sort order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    sort: Sort,
    position: [u8; 16],
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.sort {
            Sort::Recency => "r",
            Sort::Distance => "d",
            Sort::Relevance => "s",
        };
        write!(f, "{tag}{}", mutua_protocol::hex(&self.position))
    }
}

impl FromStr for Cursor {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Self, QueryError> {
        let bad = || QueryError::BadCursor(format!("{text:?} is not a cursor from this store"));
        let sort = match text.get(..1) {
            Some("r") => Sort::Recency,
            Some("d") => Sort::Distance,
            Some("s") => Sort::Relevance,
            _ => return Err(bad()),
        };
        let position = mutua_protocol::unhex(&text[1..])
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or_else(bad)?;
        Ok(Cursor { sort, position })
    }
}

impl Cursor {
    pub(crate) fn new(sort: Sort, position: [u8; 16]) -> Cursor {
        Cursor { sort, position }
    }

    pub(crate) fn sort(&self) -> Sort {
        self.sort
    }

    pub(crate) fn position(&self) -> &[u8; 16] {
        &self.position
    }
}

/// One listing served by a query.
#[derive(Clone, Debug)]
pub struct Hit {
    pub slot: SlotKey,
    pub hash: RecordHash,
    /// The signed envelope, as received.
    pub envelope: Vec<u8>,
    /// The decoded payload: an offer or a need.
    pub payload: Payload,
    /// From the query's centre, when the query has one.
    pub distance_km: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct QueryPage {
    pub hits: Vec<Hit>,
    /// Present when more hits follow.
    pub next: Option<Cursor>,
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl Store {
    /// The query's radius filter, validated, its centre resolved.
    pub(crate) fn checked_near(&self, q: &Query) -> Result<Option<(GeoPoint, f64)>, QueryError> {
        let near = match &q.near {
            Some(near) => {
                if !(near.radius_km.is_finite()
                    && near.radius_km > 0.0
                    && near.radius_km <= MAX_RADIUS_KM)
                {
                    return Err(invalid(
                        "near.radius_km",
                        format!("must be above 0 and at most {MAX_RADIUS_KM}"),
                    ));
                }
                let center = match &near.center {
                    Center::Point(p) => *p,
                    Center::Commune(insee) => self.commune_position(insee)?,
                };
                Some((center, near.radius_km))
            }
            None => None,
        };
        if q.sort == Sort::Distance && near.is_none() {
            return Err(invalid("sort", "sorting by distance needs a `near` filter"));
        }
        Ok(near)
    }

    /// A commune's reference point (the one every listing located there
    /// without a point of its own is indexed at).
    fn commune_position(&self, insee: &str) -> Result<GeoPoint, QueryError> {
        commune_syntax("near.center", insee)?;
        match crate::places::places().resolve(insee) {
            Ok(resolved) => Ok(resolved.point),
            Err(crate::places::PlaceError::NoPosition { .. }) if reference().is_commune(insee) => {
                Err(QueryError::NoCoordinates {
                    insee: insee.to_owned(),
                })
            }
            Err(_) => Err(QueryError::UnknownArea {
                field: "near.center",
                code: insee.to_owned(),
                what: "commune",
            }),
        }
    }
}

pub(crate) fn check_free(q: &Query) -> Result<(), QueryError> {
    let Some(free) = &q.free else { return Ok(()) };
    if free.period.end <= free.period.start {
        return Err(invalid("free.period", "the period has no day"));
    }
    if !(1..=MAX_CAPACITY).contains(&free.quantity) {
        return Err(invalid(
            "free.quantity",
            format!("must be between 1 and {MAX_CAPACITY}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_limit(q: &Query) -> Result<(), QueryError> {
    if q.limit == 0 || q.limit > MAX_LIMIT {
        return Err(invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(())
}

fn commune_syntax(field: &'static str, insee: &str) -> Result<(), QueryError> {
    if is_valid_insee(insee) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{insee:?} is not an INSEE commune code (5 characters: 33063, 2A004)"),
        ))
    }
}

/// The area index term of a filter. Any well-formed code is accepted, known
/// to the reference data or not: records received from peers may carry codes
/// of another vintage (communes merge every year) and stay findable by them.
pub(crate) fn area_term(area: &Area) -> Result<String, QueryError> {
    match area {
        Area::Commune(c) => {
            commune_syntax("area", c)?;
            Ok(format!("c{c}"))
        }
        Area::Epci(e) if is_valid_siren(e) => Ok(format!("e{e}")),
        Area::Departement(d) if is_valid_departement(d) => Ok(format!("d{d}")),
        Area::Epci(e) => Err(invalid(
            "area",
            format!("{e:?} is not an EPCI SIREN (9 digits with a valid check digit)"),
        )),
        Area::Departement(d) => Err(invalid(
            "area",
            format!("{d:?} is not a département code (01–95, 2A, 2B, 971–978, 984, 986–989)"),
        )),
    }
}
