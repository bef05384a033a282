//! The store's query, answered by the search index: every filter, sorts by
//! recency, distance or BM25 relevance, stable cursors, French stemming and
//! typo tolerance for text.
//!
//! Filters are tantivy clauses (terms, ranges, the radius's bounding box)
//! that score nothing; one collector checks what they cannot per candidate
//! from fast fields — expiry at `now`, the author's membership, the radius,
//! availability windows, an offer's calendar for a free period — and keeps
//! the first `limit + 1` in the asked order after the cursor. Each hit is
//! then read from sled and checked again (record still a live listing by a
//! member, and for a free period its windows and, for an offer, its
//! calendar from its lending records: the index may lag behind a loan just
//! accepted). Both indexes of the view
//! (`recent` module) are searched with one weight; in the disk index's
//! segments, the documents of slots changed since its commit are skipped.
//!
//! Orders and cursors: a cursor is the 16-byte sort key of a page's last
//! hit, `primary (8, BE) ‖ tie-break (8, BE)`, the tie-break being the
//! first 8 bytes of the listing's sync key. Recency: `u64::MAX −
//! published_at`. Distance: millimetres. Relevance: the BM25 score's bits
//! inverted (32 high bits) then recency (32 low bits). A listing that stays
//! unchanged keeps its key, so it is returned once across pages; relevance
//! keys also move when other listings change the corpus statistics.
//!
//! Typo tolerance: when no listing matches every exact text term (with the
//! other filters), each word of 5 letters or more matches its stem or its
//! folded form within one edit (a transposition counts one).

use std::collections::{BinaryHeap, HashSet};
use std::hash::BuildHasherDefault;
use std::ops::Bound;
use std::sync::Arc;

use mutua_protocol::lending::calendar::calendar;
use mutua_protocol::lending::date::utc_midnight;
use mutua_protocol::lending::Period;
use mutua_protocol::{GeoPoint, Payload, PublicKey, ResourceKind, Timestamp};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{BytesColumn, Column};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query as TantivyQuery,
    RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader, Term};

use super::recent::Masked;
use super::{analyzer, author8, decode_window, search_err, Fields};
use crate::error::{QueryError, StoreError};
use crate::layout::{self, key, prefix, StoredRecord};
use crate::lending::{fits_busy, open_over};
use crate::query::{area_term, invalid, Cursor, FreeFor, Hit, Query, QueryPage, Side, Sort};
use crate::Store;

/// Words this long or longer get one edit of typo tolerance.
pub const FUZZY_MIN_CHARS: usize = 5;

/// How a search answered, for tests and the benchmark.
#[derive(Clone, Debug)]
pub struct SearchOutcome {
    pub page: QueryPage,
    /// Whether the exact text terms found nothing and typo tolerance answered.
    pub fuzzy: bool,
}

/// The sort key of a candidate (see the module docs).
type SortKey = [u8; 16];

#[derive(Clone, Copy)]
enum Order {
    Recency,
    Distance,
    Relevance,
}

/// What the collector checks per candidate.
struct Checks {
    order: Order,
    after: Option<SortKey>,
    now: Timestamp,
    available_at: Option<Timestamp>,
    free: Option<Free>,
    near: Option<(GeoPoint, f64)>,
    members: Arc<AuthorPrefixes>,
    keep: usize,
}

/// A free-period filter: the period in days and in Unix seconds.
#[derive(Clone, Copy)]
struct Free {
    period: Period,
    quantity: u32,
    from: Timestamp,
    until: Timestamp,
}

impl Free {
    fn of(f: &FreeFor) -> Free {
        Free {
            period: f.period,
            quantity: f.quantity,
            from: utc_midnight(f.period.start),
            until: utc_midnight(f.period.end),
        }
    }
}

struct Candidate {
    key: SortKey,
    slot: Vec<u8>,
    distance_km: Option<f64>,
}

/// Candidates kept (the best `keep` after the cursor) and how many docs
/// passed every filter, cursor aside.
type Fruit = (u64, Vec<Candidate>);

struct TopCollector<'a> {
    checks: &'a Checks,
    fields: Fields,
    /// The disk index's collector hides these slots' documents.
    masked: Option<Arc<Masked>>,
}

struct Columns {
    expires_at: Column<u64>,
    published_at: Column<u64>,
    tiebreak: Column<u64>,
    author8: Column<u64>,
    lat_e6: Column<i64>,
    lon_e6: Column<i64>,
    windows: Column<u64>,
    lending: Column<u64>,
    busy: Column<u64>,
    slot: BytesColumn,
}

struct TopSegment {
    checks: Checks,
    columns: Columns,
    masked: Option<Arc<Masked>>,
    matched: u64,
    /// Max-heap of the best keys so far.
    heap: BinaryHeap<(SortKey, DocId, u64)>,
}

impl Checks {
    fn snapshot(&self) -> Checks {
        Checks {
            order: self.order,
            after: self.after,
            now: self.now,
            available_at: self.available_at,
            free: self.free,
            near: self.near,
            members: Arc::clone(&self.members),
            keep: self.keep,
        }
    }
}

impl Collector for TopCollector<'_> {
    type Fruit = Fruit;
    type Child = TopSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<TopSegment> {
        let ff = segment.fast_fields();
        let name = |f| segment.schema().get_field_name(f).to_owned();
        let f = &self.fields;
        Ok(TopSegment {
            checks: self.checks.snapshot(),
            columns: Columns {
                expires_at: ff.u64(&name(f.expires_at))?,
                published_at: ff.u64(&name(f.published_at))?,
                tiebreak: ff.u64(&name(f.tiebreak))?,
                author8: ff.u64(&name(f.author8))?,
                lat_e6: ff.i64(&name(f.lat_e6))?,
                lon_e6: ff.i64(&name(f.lon_e6))?,
                windows: ff.u64(&name(f.windows))?,
                lending: ff.u64(&name(f.lending))?,
                busy: ff.u64(&name(f.busy))?,
                slot: ff
                    .bytes(&name(f.slot))?
                    .unwrap_or_else(|| BytesColumn::empty(segment.max_doc())),
            },
            matched: 0,
            heap: BinaryHeap::new(),
            masked: self.masked.clone(),
        })
    }

    fn requires_scoring(&self) -> bool {
        matches!(self.checks.order, Order::Relevance)
    }

    fn merge_fruits(&self, fruits: Vec<Fruit>) -> tantivy::Result<Fruit> {
        let matched = fruits.iter().map(|f| f.0).sum();
        let mut all: Vec<Candidate> = fruits.into_iter().flat_map(|f| f.1).collect();
        all.sort_by_key(|a| a.key);
        all.truncate(self.checks.keep);
        Ok((matched, all))
    }
}

/// Whether a document of a disk segment is hidden by `masked`.
fn hidden(
    masked: &Option<Arc<Masked>>,
    tiebreak: &Column<u64>,
    slot: &BytesColumn,
    doc: DocId,
) -> bool {
    // Most views hide nothing: no column read then.
    masked.as_ref().is_some_and(|m| {
        m.len() > 0 && m.hides(tiebreak.first(doc).unwrap_or(0), || slot_of(slot, doc))
    })
}

fn slot_of(column: &BytesColumn, doc: DocId) -> Option<Vec<u8>> {
    let ord = column.term_ords(doc).next()?;
    let mut slot = Vec::new();
    column.ord_to_bytes(ord, &mut slot).ok()?;
    Some(slot)
}

impl TopSegment {
    /// The candidate's distance, or `None` if it fails a check.
    fn passes(&self, doc: DocId) -> Option<Option<f64>> {
        let c = &self.columns;
        let checks = &self.checks;
        let expires = c.expires_at.first(doc)?;
        if hidden(&self.masked, &c.tiebreak, &c.slot, doc) {
            return None;
        }
        if expires <= checks.now || !checks.members.contains(&c.author8.first(doc)?) {
            return None;
        }
        if let Some(t) = checks.available_at {
            let mut windows = c.windows.values_for_doc(doc).peekable();
            let open = t < expires
                && (windows.peek().is_none()
                    || windows.any(|w| {
                        let (from, until) = decode_window(w);
                        from <= t && t < until
                    }));
            if !open {
                return None;
            }
        }
        if let Some(free) = &checks.free {
            let windows = c.windows.values_for_doc(doc).map(decode_window);
            if !open_over(windows, expires, free.from, free.until) {
                return None;
            }
            // Needs have no calendar.
            if let Some(settings) = c.lending.first(doc) {
                let busy = c.busy.values_for_doc(doc);
                if !fits_busy(settings, busy, &free.period, free.quantity) {
                    return None;
                }
            }
        }
        match &checks.near {
            None => Some(None),
            Some((center, radius)) => {
                let point = GeoPoint {
                    lat_e6: c.lat_e6.first(doc)? as i32,
                    lon_e6: c.lon_e6.first(doc)? as i32,
                };
                let d = center.distance_km(&point);
                (d <= *radius).then_some(Some(d))
            }
        }
    }
}

impl SegmentCollector for TopSegment {
    type Fruit = Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        let Some(distance) = self.passes(doc) else {
            return;
        };
        self.matched += 1;
        let c = &self.columns;
        let recency = u64::MAX - c.published_at.first(doc).unwrap_or(0);
        let primary = match self.checks.order {
            Order::Recency => recency,
            Order::Distance => (distance.unwrap_or(0.0) * 1e6).round() as u64,
            Order::Relevance => {
                (u64::from(u32::MAX - score.max(0.0).to_bits()) << 32) | (recency & 0xffff_ffff)
            }
        };
        // The primary half decides most comparisons: the tie-break column
        // is read only when it does not.
        let primary = primary.to_be_bytes();
        let full = self.heap.len() >= self.checks.keep;
        let worst = self.heap.peek().filter(|_| full).map(|(w, _, _)| w);
        if self.checks.after.is_some_and(|a| primary[..] < a[..8])
            || worst.is_some_and(|w| primary[..] > w[..8])
        {
            return;
        }
        let mut key = [0; 16];
        key[..8].copy_from_slice(&primary);
        key[8..].copy_from_slice(&c.tiebreak.first(doc).unwrap_or(0).to_be_bytes());
        if self.checks.after.is_some_and(|a| key <= a) || worst.is_some_and(|w| key >= *w) {
            return;
        }
        let d = distance.map_or(u64::MAX, f64::to_bits);
        self.heap.push((key, doc, d));
        if self.heap.len() > self.checks.keep {
            self.heap.pop();
        }
    }

    fn harvest(self) -> Fruit {
        let slot_col = &self.columns.slot;
        let candidates = self
            .heap
            .into_iter()
            .filter_map(|(key, doc, d)| {
                Some(Candidate {
                    key,
                    slot: slot_of(slot_col, doc)?,
                    distance_km: (d != u64::MAX).then(|| f64::from_bits(d)),
                })
            })
            .collect();
        (self.matched, candidates)
    }
}

/// A filter clause: matches, scores nothing.
fn filter(q: impl TantivyQuery) -> (Occur, Box<dyn TantivyQuery>) {
    (
        Occur::Must,
        Box::new(ConstScoreQuery::new(Box::new(q), 0.0)),
    )
}

fn any_of(terms: Vec<Term>) -> BooleanQuery {
    BooleanQuery::new(
        terms
            .into_iter()
            .map(|t| {
                let q: Box<dyn TantivyQuery> =
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic));
                (Occur::Should, q)
            })
            .collect(),
    )
}

/// The latitude and longitude ranges (micro-degrees) holding every point
/// within `radius_km` of `center`; no longitude range near a pole or across
/// the antimeridian (the exact distance is checked per candidate anyway).
fn bounding_box(center: &GeoPoint, radius_km: f64) -> ((i64, i64), Option<(i64, i64)>) {
    const KM_PER_DEGREE: f64 = 111.19;
    let dlat = radius_km / KM_PER_DEGREE;
    let lat = center.lat();
    let lat_range = (
        ((lat - dlat) * 1e6).floor() as i64,
        ((lat + dlat) * 1e6).ceil() as i64,
    );
    let widest = (lat.abs() + dlat).min(90.0);
    if widest >= 89.0 {
        return (lat_range, None);
    }
    let dlon = radius_km / (KM_PER_DEGREE * widest.to_radians().cos());
    let (lo, hi) = (center.lon() - dlon, center.lon() + dlon);
    if lo < -180.0 || hi > 180.0 {
        return (lat_range, None);
    }
    (
        lat_range,
        Some(((lo * 1e6).floor() as i64, (hi * 1e6).ceil() as i64)),
    )
}

fn i64_range(field: tantivy::schema::Field, (lo, hi): (i64, i64)) -> RangeQuery {
    RangeQuery::new(
        Bound::Included(Term::from_field_i64(field, lo)),
        Bound::Included(Term::from_field_i64(field, hi)),
    )
}

/// A query word: its folded form and its stem.
struct Word {
    folded: String,
    stem: String,
}

impl Store {
    /// Runs `query` at time `now`: listings live at `now` by current
    /// members, filtered, sorted (`Sort::Relevance`: BM25, needs `text`) and
    /// paged by cursor. Text is folded, stemmed (French) and, when the exact
    /// words find nothing, matched with one typo on words of 5+ letters.
    pub fn query(&self, query: &Query, now: Timestamp) -> Result<QueryPage, QueryError> {
        self.query_detailed(query, now).map(|o| o.page)
    }

    /// [`Store::query`], saying whether typo tolerance answered.
    pub fn query_detailed(&self, q: &Query, now: Timestamp) -> Result<SearchOutcome, QueryError> {
        let search = &self.inner.search;
        crate::query::check_limit(q)?;
        crate::query::check_free(q)?;
        let near = self.checked_near(q)?;
        let after = match &q.cursor {
            Some(c) if c.sort() != q.sort => {
                return Err(QueryError::BadCursor(
                    "the cursor belongs to another sort order".into(),
                ))
            }
            Some(c) => Some(*c.position()),
            None => None,
        };
        let fields = search.fields;
        let manager = search.index.tokenizers();
        let mut words = Vec::new();
        if let Some(t) = &q.text {
            for folded in analyzer::tokens(manager, analyzer::FOLDED, t) {
                let stem = analyzer::tokens(manager, analyzer::STEMMED, &folded)
                    .pop()
                    .unwrap_or_else(|| folded.clone());
                words.push(Word { folded, stem });
            }
            if words.is_empty() {
                return Err(invalid(
                    "text",
                    "has no word that is not a stopword (de, la, the…)".to_owned(),
                ));
            }
        }
        if q.sort == Sort::Relevance && words.is_empty() {
            return Err(invalid("sort", "sorting by relevance needs `text`"));
        }
        // No clause for expiry: the collector checks it per candidate, and a
        // range over a fast field reads the whole column (a third of a
        // query's time at 1M listings).
        let mut filters = Vec::new();
        match q.side {
            Side::Offers => filters.push(filter(TermQuery::new(
                Term::from_field_u64(fields.side, 0),
                IndexRecordOption::Basic,
            ))),
            Side::Needs => filters.push(filter(TermQuery::new(
                Term::from_field_u64(fields.side, 1),
                IndexRecordOption::Basic,
            ))),
            Side::Both => {}
        }
        if !q.kinds.is_empty() {
            let kinds: HashSet<ResourceKind> = q.kinds.iter().copied().collect();
            filters.push(filter(any_of(
                kinds
                    .iter()
                    .map(|k| {
                        Term::from_field_u64(fields.kind, u64::from(layout::resource_byte(*k)))
                    })
                    .collect(),
            )));
        }
        if !q.authors.is_empty() {
            filters.push(filter(any_of(
                q.authors
                    .iter()
                    .map(|a| Term::from_field_bytes(fields.author, a.as_bytes()))
                    .collect(),
            )));
        }
        for tag in &q.tags {
            let folded = crate::text::fold_tag(tag);
            if folded.is_empty() {
                return Err(invalid("tags", "a tag is empty"));
            }
            filters.push(filter(TermQuery::new(
                Term::from_field_text(fields.tags, &folded),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(area) = &q.area {
            filters.push(filter(TermQuery::new(
                Term::from_field_text(fields.areas, &area_term(area)?),
                IndexRecordOption::Basic,
            )));
        }
        if let Some((center, radius)) = &near {
            let (lat, lon) = bounding_box(center, *radius);
            filters.push(filter(i64_range(fields.lat_e6, lat)));
            if let Some(lon) = lon {
                filters.push(filter(i64_range(fields.lon_e6, lon)));
            }
        }
        let members = self.with_members(now, |m| Arc::clone(&m.author_prefixes))?;
        let checks = Checks {
            order: match q.sort {
                Sort::Recency => Order::Recency,
                Sort::Distance => Order::Distance,
                Sort::Relevance => Order::Relevance,
            },
            after,
            now,
            available_at: q.available_at,
            free: q.free.as_ref().map(Free::of),
            near,
            members,
            keep: q.limit + 1,
        };
        let view = search.view()?;
        let disk = TopCollector {
            checks: &checks,
            fields,
            masked: Some(Arc::clone(&view.masked)),
        };
        let recent = TopCollector {
            checks: &checks,
            fields,
            masked: None,
        };
        let run = |fuzzy: bool| -> Result<Fruit, StoreError> {
            let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> =
                filters.iter().map(|(o, c)| (*o, c.box_clone())).collect();
            for w in &words {
                clauses.push((Occur::Must, text_clause(fields.text, w, fuzzy)));
            }
            let query: Box<dyn TantivyQuery> = if clauses.is_empty() {
                Box::new(AllQuery)
            } else {
                Box::new(BooleanQuery::new(clauses))
            };
            view.search(query.as_ref(), &disk, &recent)
                .map_err(search_err)
        };
        let (matched, mut candidates) = run(false)?;
        let fuzzy = matched == 0
            && words
                .iter()
                .any(|w| w.folded.chars().count() >= FUZZY_MIN_CHARS);
        if fuzzy {
            candidates = run(true)?.1;
        }
        let more = candidates.len() > q.limit;
        candidates.truncate(q.limit);
        let next = if more {
            candidates.last().map(|c| Cursor::new(q.sort, c.key))
        } else {
            None
        };
        let mut hits = Vec::with_capacity(candidates.len());
        for c in candidates {
            if let Some(hit) = self.live_hit(&c.slot, c.distance_km, q.free.as_ref(), now)? {
                hits.push(hit);
            }
        }
        Ok(SearchOutcome {
            page: QueryPage { hits, next },
            fuzzy,
        })
    }

    /// The listing in `slot` as a hit, if sled still holds it as a live
    /// listing by a member, free for `free` if asked (the index may lag
    /// behind a replacement or a lending record).
    fn live_hit(
        &self,
        slot: &[u8],
        distance_km: Option<f64>,
        free: Option<&FreeFor>,
        now: Timestamp,
    ) -> Result<Option<Hit>, StoreError> {
        let record_key = key(prefix::RECORD, &[slot]);
        let Some(value) = self.inner.tree.get(&record_key)? else {
            return Ok(None);
        };
        let envelope = self.inner.packing.unpack(&record_key, &value)?;
        let record = StoredRecord::decode(&record_key, &envelope)?;
        let author: PublicKey = match &record.payload {
            Payload::Offer(l) | Payload::Need(l) if l.expires_at > now => l.author,
            _ => return Ok(None),
        };
        if !self.with_members(now, |m| m.members.contains(&author))? {
            return Ok(None);
        }
        if let (Some(free), Some(listing)) = (free, record.payload.listing()) {
            let f = Free::of(free);
            let windows = listing.availability.iter().map(|w| (w.from, w.until));
            if !open_over(windows, listing.expires_at, f.from, f.until) {
                return Ok(None);
            }
            if let Payload::Offer(l) = &record.payload {
                let records = self.lending_records(&l.author, &l.id)?;
                let calendar = calendar(
                    &l.author,
                    &l.id,
                    records.iter().map(|r| (r.hash, &r.payload)),
                );
                if !calendar.fits(&free.period, free.quantity) {
                    return Ok(None);
                }
            }
        }
        Ok(Some(Hit {
            slot: layout::parse_slot(slot).ok_or_else(|| StoreError::corrupt(slot, "bad slot"))?,
            hash: record.hash,
            envelope: record.envelope,
            payload: record.payload,
            distance_km,
        }))
    }
}

/// One query word: its stem, or (typo tolerance, long words) its stem or
/// folded form within one edit.
fn text_clause(field: tantivy::schema::Field, w: &Word, fuzzy: bool) -> Box<dyn TantivyQuery> {
    let stem = Term::from_field_text(field, &w.stem);
    if !fuzzy || w.folded.chars().count() < FUZZY_MIN_CHARS {
        return Box::new(TermQuery::new(stem, IndexRecordOption::WithFreqs));
    }
    let folded = Term::from_field_text(field, &w.folded);
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(FuzzyTermQuery::new(stem, 1, true))),
        (
            Occur::Should,
            Box::new(FuzzyTermQuery::new(folded, 1, true)),
        ),
    ]))
}

/// The first 8 bytes of each member's key, looked up for every candidate.
pub type AuthorPrefixes = HashSet<u64, BuildHasherDefault<PrefixHasher>>;

/// A multiplicative hash for [`AuthorPrefixes`]: its keys are already
/// uniform (parts of public keys) and the set is small, so SipHash's
/// protection against chosen keys buys nothing for its cost per candidate.
#[derive(Default)]
pub struct PrefixHasher(u64);

impl std::hash::Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The author prefixes of a member set, for the collector.
pub fn author_prefixes(members: &HashSet<PublicKey>) -> Arc<AuthorPrefixes> {
    Arc::new(members.iter().map(|k| author8(k.as_bytes())).collect())
}

/// Counts the documents a query matches that queries see (the disk
/// collector hides the masked slots).
pub struct VisibleCount {
    pub masked: Option<Arc<Masked>>,
}

pub struct VisibleCountSegment {
    masked: Option<Arc<Masked>>,
    tiebreak: Column<u64>,
    slot: BytesColumn,
    count: u64,
}

impl Collector for VisibleCount {
    type Fruit = u64;
    type Child = VisibleCountSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<VisibleCountSegment> {
        let ff = segment.fast_fields();
        Ok(VisibleCountSegment {
            masked: self.masked.clone(),
            tiebreak: ff.u64("tiebreak")?,
            slot: ff
                .bytes("slot")?
                .unwrap_or_else(|| BytesColumn::empty(segment.max_doc())),
            count: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<u64>) -> tantivy::Result<u64> {
        Ok(fruits.into_iter().sum())
    }
}

impl SegmentCollector for VisibleCountSegment {
    type Fruit = u64;

    fn collect(&mut self, doc: DocId, _: Score) {
        if !hidden(&self.masked, &self.tiebreak, &self.slot, doc) {
            self.count += 1;
        }
    }

    fn harvest(self) -> u64 {
        self.count
    }
}
