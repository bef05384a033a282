//! Queries over the listing indexes.
//!
//! Every indexed filter can drive a query: its postings are walked newest
//! first — the plain keys of the kind, author and geo indexes (`prefix … R
//! N`) merged as they come, the packed postings of a tag, word or area term
//! gathered block by block and sorted — and each candidate is checked
//! against the other filters with point reads (its summary, then one packed
//! value per other term). The driver is the filter with the fewest
//! postings, counted up to [`PROBE_CAP`]. The kind index (side × kind) is the
//! fallback driver, so a query never scans the records themselves.
//!
//! Served listings are live: not expired at `now` (checked on the summary,
//! so before the sweep) and authored by a current member (the cached member
//! set).
//!
//! Pages: a recency page ends with a cursor holding the `(R, N)` of its last
//! hit; the next page starts strictly after it. Listings applied while paging
//! land before or after the cursor but never shift it, so a listing that
//! stays unchanged throughout is returned exactly once. A listing replaced by
//! a newer version moves (its `R` changes) and may be seen twice or, if
//! withdrawn, not at all. Distance pages do the same with `(distance in mm, N)`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use mutua_protocol::codes::{is_valid_departement, is_valid_insee, is_valid_siren};
use mutua_protocol::{GeoPoint, Payload, PublicKey, RecordHash, ResourceKind, SlotKey, Timestamp};

use crate::error::{QueryError, StoreError};
use crate::layout::{
    self, block_of, key, posting_suffix, prefix, Chunk, StoredRecord, Summary, POSTING_BLOCK,
};
use crate::members::MemberSet;
use crate::refdata::reference;
use crate::{geo, text, Store};

/// How many postings of plain keys are counted per candidate driver before
/// it is deemed "large" (it streams newest first, so large is fine).
pub const PROBE_CAP: usize = 256;
/// The most postings of a term gathered and sorted to drive a query; a more
/// common term is checked per candidate of a streaming driver instead (one
/// point read each), which needs few candidates precisely because the term
/// is common.
pub const TERM_GATHER_CAP: usize = 4096;
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
    /// Best BM25 match of `text` first, then newest (`Store::search` only).
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
            sort: Sort::Recency,
            limit: 20,
            cursor: None,
        }
    }
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

/// A validated query, ready to run.
struct Plan {
    sides: Vec<u8>,
    kinds: Vec<u8>,
    authors: HashSet<PublicKey>,
    /// `prefix term` pairs that must all be present (tags, words, area).
    terms: Vec<(u8, String)>,
    near: Option<(GeoPoint, f64)>,
    available_at: Option<Timestamp>,
    now: Timestamp,
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn posting_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    end.extend_from_slice(&[0xff; 16]);
    end
}

/// Posting lists merged in `(R, N)` order, after an optional position.
struct Postings {
    iters: Vec<sled::Iter>,
    heap: BinaryHeap<Reverse<([u8; 16], usize)>>,
}

impl Postings {
    fn new(
        tree: &sled::Tree,
        prefixes: &[Vec<u8>],
        after: Option<&[u8; 16]>,
    ) -> Result<Self, StoreError> {
        let mut postings = Postings {
            iters: Vec::with_capacity(prefixes.len()),
            heap: BinaryHeap::new(),
        };
        for p in prefixes {
            let start = match after {
                Some(pos) => Bound::Excluded(key(p[0], &[&p[1..], pos])),
                None => Bound::Included(p.clone()),
            };
            postings
                .iters
                .push(tree.range((start, Bound::Included(posting_end(p)))));
            postings.advance(postings.iters.len() - 1)?;
        }
        Ok(postings)
    }

    fn advance(&mut self, i: usize) -> Result<(), StoreError> {
        if let Some(entry) = self.iters[i].next() {
            let (k, _) = entry?;
            let (r, n) =
                posting_suffix(&k).ok_or_else(|| StoreError::corrupt(&k, "short posting key"))?;
            let mut position = [0; 16];
            position[..8].copy_from_slice(&r);
            position[8..].copy_from_slice(&n.to_be_bytes());
            self.heap.push(Reverse((position, i)));
        }
        Ok(())
    }
}

impl Iterator for Postings {
    type Item = Result<[u8; 16], StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((position, i)) = self.heap.pop()?;
        if let Err(e) = self.advance(i) {
            return Some(Err(e));
        }
        // A listing sits once in a driver's lists; equal positions cannot
        // follow each other, but drop them defensively.
        while let Some(Reverse((p, _))) = self.heap.peek() {
            if *p != position {
                break;
            }
            let Reverse((_, j)) = self.heap.pop().expect("peeked");
            if let Err(e) = self.advance(j) {
                return Some(Err(e));
            }
        }
        Some(Ok(position))
    }
}

/// Postings in query order.
type Positions<'s> = Box<dyn Iterator<Item = Result<[u8; 16], StoreError>> + 's>;

/// Where a query's candidates come from.
enum Driver {
    /// Plain posting keys under these prefixes (`prefix … R N`).
    Keys(Vec<Vec<u8>>),
    /// A term's packed postings, gathered and sorted newest first.
    Gathered(Vec<[u8; 16]>),
}

/// A candidate that passed every filter.
struct Match {
    position: [u8; 16],
    slot: Vec<u8>,
    distance_km: Option<f64>,
}

impl Store {
    /// Runs a query against the indexes at time `now`.
    pub fn query(&self, query: &Query, now: Timestamp) -> Result<QueryPage, QueryError> {
        let plan = self.plan(query, now)?;
        let after = match &query.cursor {
            Some(c) if c.sort != query.sort => {
                return Err(QueryError::BadCursor(
                    "the cursor belongs to another sort order".into(),
                ))
            }
            Some(c) => Some(c.position),
            None => None,
        };
        let (mut matches, more) = self.with_members(now, |members| match query.sort {
            Sort::Recency => self.run_recency(&plan, members, after.as_ref(), query.limit),
            Sort::Distance => self.run_distance(&plan, members, after.as_ref(), query.limit),
            Sort::Relevance => unreachable!("refused by plan"),
        })??;
        let next = more.then(|| matches.last()).flatten().map(|m| Cursor {
            sort: query.sort,
            position: m.position,
        });
        let hits = matches
            .drain(..)
            .map(|m| self.hit(m))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(QueryPage { hits, next })
    }

    fn hit(&self, m: Match) -> Result<Hit, StoreError> {
        let record_key = key(prefix::RECORD, &[&m.slot]);
        let value = self
            .inner
            .tree
            .get(&record_key)?
            .ok_or_else(|| StoreError::corrupt(&record_key, "indexed listing has no record"))?;
        let record = StoredRecord::decode(&record_key, &value)?;
        Ok(Hit {
            slot: layout::parse_slot(&m.slot)
                .ok_or_else(|| StoreError::corrupt(&m.slot, "bad slot"))?,
            hash: record.hash,
            envelope: record.envelope,
            payload: record.payload,
            distance_km: m.distance_km,
        })
    }

    fn plan(&self, q: &Query, now: Timestamp) -> Result<Plan, QueryError> {
        check_limit(q)?;
        if q.sort == Sort::Relevance {
            return Err(invalid(
                "sort",
                "sorting by relevance needs the search index (`Store::search`)",
            ));
        }
        let sides = match q.side {
            Side::Offers => vec![0],
            Side::Needs => vec![1],
            Side::Both => vec![0, 1],
        };
        let kinds: Vec<u8> = if q.kinds.is_empty() {
            ResourceKind::ALL
                .iter()
                .map(|k| layout::resource_byte(*k))
                .collect()
        } else {
            q.kinds.iter().map(|k| layout::resource_byte(*k)).collect()
        };
        let mut terms = Vec::new();
        for tag in &q.tags {
            let folded = text::fold_tag(tag);
            if folded.is_empty() {
                return Err(invalid("tags", "a tag is empty"));
            }
            terms.push((prefix::TAG, folded));
        }
        if let Some(t) = &q.text {
            let words = text::query_words(t);
            if words.is_empty() {
                return Err(invalid(
                    "text",
                    format!(
                        "has no word of at least {} letters that is not a stopword (de, la, the…)",
                        text::MIN_WORD_CHARS
                    ),
                ));
            }
            terms.extend(words.into_iter().map(|w| (prefix::WORD, w)));
        }
        if let Some(area) = &q.area {
            terms.push((prefix::AREA, area_term(area)?));
        }
        let near = self.checked_near(q)?;
        Ok(Plan {
            sides,
            kinds,
            authors: q.authors.iter().copied().collect(),
            terms,
            near,
            available_at: q.available_at,
            now,
        })
    }

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

    /// The slot and summary behind a posting, if the listing is still indexed.
    fn summary_at(&self, position: &[u8; 16]) -> Result<Option<(Vec<u8>, Summary)>, StoreError> {
        let number_key = key(prefix::NUMBER, &[&position[8..]]);
        let Some(v) = self.inner.tree.get(&number_key)? else {
            return Ok(None);
        };
        let (slot, summary) = layout::parse_number_value(&v)
            .ok_or_else(|| StoreError::corrupt(&number_key, "unreadable listing summary"))?;
        Ok(Some((slot.to_vec(), summary)))
    }

    /// The blocks of packed postings that may hold anything.
    fn blocks(&self) -> Result<std::ops::RangeInclusive<u64>, StoreError> {
        let next = layout::u64_value_or_zero(self.inner.tree.get(layout::meta::NEXT_NUMBER)?);
        Ok(0..=next / POSTING_BLOCK)
    }

    /// The packed postings of `term` in one block, as positions.
    fn term_block(&self, prefix: u8, term: &str, block: u64) -> Result<Vec<[u8; 16]>, StoreError> {
        let Some(v) = self.term_chunk(prefix, term, block)? else {
            return Ok(Vec::new());
        };
        Ok(Chunk::parse(&v)
            .expect("checked by term_chunk")
            .iter()
            .map(|(offset, r)| {
                let mut position = [0; 16];
                position[..8].copy_from_slice(&r);
                position[8..]
                    .copy_from_slice(&(block * POSTING_BLOCK + u64::from(offset)).to_be_bytes());
                position
            })
            .collect())
    }

    /// The packed value of `term` for `block`, its length checked.
    fn term_chunk(
        &self,
        prefix: u8,
        term: &str,
        block: u64,
    ) -> Result<Option<sled::IVec>, StoreError> {
        let chunk_key = layout::chunk_key(prefix, block as u32, term);
        match self.inner.tree.get(&chunk_key)? {
            Some(v) if Chunk::parse(&v).is_none() => Err(StoreError::corrupt(
                &chunk_key,
                "unreadable packed postings",
            )),
            found => Ok(found),
        }
    }

    /// The postings of `term`, newest first, if there are at most `cap`.
    fn gather_term(
        &self,
        prefix: u8,
        term: &str,
        cap: usize,
    ) -> Result<Option<Vec<[u8; 16]>>, StoreError> {
        let mut all = Vec::new();
        for block in self.blocks()? {
            all.extend(self.term_block(prefix, term, block)?);
            if all.len() > cap {
                return Ok(None);
            }
        }
        all.sort_unstable();
        Ok(Some(all))
    }

    /// A driver's postings newest first, strictly after `after`.
    fn positions(
        &self,
        driver: Driver,
        after: Option<&[u8; 16]>,
    ) -> Result<Positions<'_>, StoreError> {
        Ok(match driver {
            Driver::Keys(lists) => Box::new(Postings::new(&self.inner.tree, &lists, after)?),
            Driver::Gathered(postings) => {
                let first = match after {
                    Some(a) => postings.partition_point(|p| p <= a),
                    None => 0,
                };
                Box::new(postings.into_iter().skip(first).map(Ok))
            }
        })
    }

    /// How many postings plain posting lists hold, counted up to [`PROBE_CAP`].
    fn probe_keys(&self, lists: &[Vec<u8>]) -> Result<usize, StoreError> {
        let mut count = 0;
        for p in lists {
            for entry in self.inner.tree.range(p.clone()..=posting_end(p)).keys() {
                entry?;
                count += 1;
                if count >= PROBE_CAP {
                    return Ok(count);
                }
            }
        }
        Ok(count)
    }

    /// The cheapest driver, and the term it covers (not to check again): the
    /// candidate with the fewest postings, plain lists counted up to
    /// [`PROBE_CAP`]; a plain list at its cap (streamed) ranks after every
    /// exact count, and a term over [`TERM_GATHER_CAP`] never drives.
    fn driver(&self, plan: &Plan) -> Result<(Driver, Option<usize>), StoreError> {
        let mut plain: Vec<Vec<Vec<u8>>> = Vec::new();
        if !plan.authors.is_empty() {
            let lists = plan
                .authors
                .iter()
                .map(|a| key(prefix::AUTHOR, &[a.as_bytes()]))
                .collect();
            plain.push(lists);
        }
        if let Some((center, radius)) = &plan.near {
            let cells = geo::cells_within(center, *radius);
            if cells.len() <= geo::MAX_DRIVING_CELLS {
                plain.push(cells.iter().map(|c| key(prefix::GEO, &[c])).collect());
            }
        }
        let kind_lists = plan
            .sides
            .iter()
            .flat_map(|s| {
                plan.kinds
                    .iter()
                    .map(move |k| key(prefix::KIND, &[&[*s, *k]]))
            })
            .collect();
        plain.push(kind_lists);
        let mut candidates: Vec<((bool, usize), Driver, Option<usize>)> = Vec::new();
        for (i, (p, term)) in plan.terms.iter().enumerate() {
            if let Some(postings) = self.gather_term(*p, term, TERM_GATHER_CAP)? {
                candidates.push(((false, postings.len()), Driver::Gathered(postings), Some(i)));
            }
        }
        for lists in plain {
            let count = self.probe_keys(&lists)?;
            candidates.push(((count >= PROBE_CAP, count), Driver::Keys(lists), None));
        }
        // The first of equal costs wins.
        let best = (0..candidates.len())
            .min_by_key(|i| candidates[*i].0)
            .expect("the kind driver is always a candidate");
        let (_, driver, skip) = candidates.swap_remove(best);
        Ok((driver, skip))
    }

    /// Whether the listing at `position` has `term`'s posting.
    fn has_posting(&self, p: u8, term: &str, position: &[u8; 16]) -> Result<bool, StoreError> {
        let (block, offset) = block_of(u64::from_be_bytes(position[8..].try_into().expect("8")));
        Ok(match self.term_chunk(p, term, u64::from(block))? {
            Some(v) => {
                let chunk = Chunk::parse(&v).expect("checked by term_chunk");
                chunk.get(offset).as_ref() == Some(&position[..8].try_into().expect("8"))
            }
            None => false,
        })
    }

    /// Checks one candidate against every filter but the driving one.
    fn accept(
        &self,
        plan: &Plan,
        members: &MemberSet,
        skip_term: Option<usize>,
        position: &[u8; 16],
    ) -> Result<Option<Match>, StoreError> {
        let Some((slot, s)) = self.summary_at(position)? else {
            return Ok(None);
        };
        let n = u64::from_be_bytes(position[8..].try_into().expect("8 bytes"));
        let passes = s.number == n
            && layout::recency(s.published_at) == position[..8]
            && s.expires_at > plan.now
            && plan.sides.contains(&s.side)
            && plan.kinds.contains(&s.kind)
            && (plan.authors.is_empty() || plan.authors.contains(&s.author))
            && plan.available_at.is_none_or(|t| s.available_at(t))
            && members.members.contains(&s.author);
        if !passes {
            return Ok(None);
        }
        let distance_km = match (&plan.near, s.point) {
            (Some((center, radius)), Some(p)) => {
                let d = center.distance_km(&p);
                if d > *radius {
                    return Ok(None);
                }
                Some(d)
            }
            (Some(_), None) => return Ok(None),
            (None, _) => None,
        };
        for (i, (p, term)) in plan.terms.iter().enumerate() {
            if Some(i) != skip_term && !self.has_posting(*p, term, position)? {
                return Ok(None);
            }
        }
        Ok(Some(Match {
            position: *position,
            slot,
            distance_km,
        }))
    }

    fn run_recency(
        &self,
        plan: &Plan,
        members: &MemberSet,
        after: Option<&[u8; 16]>,
        limit: usize,
    ) -> Result<(Vec<Match>, bool), StoreError> {
        let (driver, skip) = self.driver(plan)?;
        let mut out = Vec::with_capacity(limit);
        for position in self.positions(driver, after)? {
            if let Some(m) = self.accept(plan, members, skip, &position?)? {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push(m);
            }
        }
        Ok((out, false))
    }

    fn run_distance(
        &self,
        plan: &Plan,
        members: &MemberSet,
        after: Option<&[u8; 16]>,
        limit: usize,
    ) -> Result<(Vec<Match>, bool), StoreError> {
        let (driver, skip) = self.driver(plan)?;
        // The `limit + 1` nearest after the cursor, in a max-heap.
        let mut best: BinaryHeap<([u8; 16], Vec<u8>)> = BinaryHeap::new();
        for position in self.positions(driver, None)? {
            let Some(m) = self.accept(plan, members, skip, &position?)? else {
                continue;
            };
            let mm = (m.distance_km.unwrap_or(0.0) * 1e6).round() as u64;
            let mut order = [0; 16];
            order[..8].copy_from_slice(&mm.to_be_bytes());
            order[8..].copy_from_slice(&m.position[8..]);
            if after.is_some_and(|a| order <= *a) {
                continue;
            }
            best.push((order, m.slot));
            if best.len() > limit + 1 {
                best.pop();
            }
        }
        let more = best.len() > limit;
        let mut sorted = best.into_sorted_vec();
        sorted.truncate(limit);
        Ok((
            sorted
                .into_iter()
                .map(|(order, slot)| Match {
                    position: order,
                    slot,
                    distance_km: Some(
                        u64::from_be_bytes(order[..8].try_into().expect("8")) as f64 / 1e6,
                    ),
                })
                .collect(),
            more,
        ))
    }
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
