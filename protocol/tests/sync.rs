//! Reconciliation between two in-memory replicas running the sync state
//! machine against each other, with every message encoded, size-checked and
//! decoded on the way.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use mutua_protocol::fixtures::{self, FIXTURE_NOW};
use mutua_protocol::merge::{forget_after, merge, Rank, SlotKey};
use mutua_protocol::model::*;
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::sync::memory::MemorySource;
use mutua_protocol::sync::*;
use mutua_protocol::{open, seal, SecretKey, SignedRecord};
use proptest::prelude::*;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

/// One side of a session, as the node would run it.
trait Side {
    type Source: SyncSource<Error = Infallible>;
    fn source(&self) -> &Self::Source;
    /// Applies the records of one message.
    fn apply(&mut self, records: &[ByteBuf]);
}

/// A replica of signed records: verifies, refuses what may be forgotten at
/// `now`, keeps the winner of each slot by [`Rank`].
struct Replica {
    source: MemorySource,
    ranks: HashMap<SyncKey, Rank>,
    now: Timestamp,
    /// The class of every record applied, in order.
    applied: Vec<SyncClass>,
}

impl Replica {
    fn new(records: &[&SignedRecord]) -> Replica {
        let mut replica = Replica {
            source: MemorySource::new(),
            ranks: HashMap::new(),
            now: FIXTURE_NOW,
            applied: Vec::new(),
        };
        for record in records {
            replica.store(record);
        }
        replica.applied.clear();
        replica
    }

    fn store(&mut self, record: &SignedRecord) {
        if forget_after(record) <= self.now {
            return;
        }
        let key = SyncKey::of_slot(&SlotKey::of(record));
        let rank = Rank::of(record);
        if merge(self.ranks.get(&key), &rank).stores_incoming() {
            self.ranks.insert(key, rank);
            self.source
                .insert(key, *record.hash(), rank.into(), record.bytes().into());
            self.applied.push(SyncClass::of_payload(record.payload()));
        }
    }

    /// The sweep a node runs before syncing: drops what may be forgotten.
    fn purge(&mut self) {
        for (key, digest) in self.source.digests() {
            let (_, bytes) = self.source.get(&key).expect("listed");
            let record = open(bytes).expect("stored records are valid");
            assert_eq!(record.hash(), &digest);
            if forget_after(&record) <= self.now {
                self.source.remove(&key);
                self.ranks.remove(&key);
            }
        }
    }
}

impl Side for Replica {
    type Source = MemorySource;

    fn source(&self) -> &MemorySource {
        &self.source
    }

    fn apply(&mut self, records: &[ByteBuf]) {
        let mut opened: Vec<SignedRecord> = records
            .iter()
            .map(|bytes| open(bytes).expect("peers send valid records"))
            .collect();
        order_for_apply(&mut opened);
        for record in &opened {
            self.store(record);
        }
    }
}

/// What a session cost.
#[derive(Debug, Default)]
struct Run {
    rounds: u32,
    bytes: usize,
    largest_message: usize,
    outcome: Outcome,
    /// `Ids` queries answered `Equal` (lists showing no difference).
    ids_answered_equal: usize,
}

/// Runs a session from `a` (initiator) to `b`, through the codec.
fn sync(a: &mut impl Side, b: &mut impl Side) -> Run {
    sync_with(a, b, SessionLimits::default()).expect("the session completes")
}

fn sync_with(
    a: &mut impl Side,
    b: &mut impl Side,
    limits: SessionLimits,
) -> Result<Run, SyncError<Infallible>> {
    let mut run = Run::default();
    let (mut session, mut request) = InitiatorSession::start(limits, a.source())?;
    loop {
        let bytes = encode_request(&request);
        let request_in = decode_request(&bytes).expect("own requests decode");
        assert_eq!(request_in, request);
        let response = respond(&request_in, b.source())?;
        b.apply(&request_in.push);
        let response_bytes = encode_response(&response);
        let response_in = decode_response(&response_bytes).expect("own responses decode");
        assert_eq!(response_in, response);
        run.ids_answered_equal += request_in
            .queries
            .iter()
            .zip(&response_in.answers)
            .filter(|pair| matches!(pair, (Query::Ids(..), Answer::Equal)))
            .count();
        run.rounds += 1;
        run.bytes += bytes.len() + response_bytes.len();
        run.largest_message = run
            .largest_message
            .max(bytes.len())
            .max(response_bytes.len());
        assert!(run.largest_message <= MAX_MESSAGE_BYTES);
        a.apply(&response_in.records);
        match session.handle_response(&response_in, a.source())? {
            Step::Send(next) => request = next,
            Step::Done(outcome) => {
                run.outcome = outcome;
                assert_eq!(outcome.rounds, run.rounds);
                return Ok(run);
            }
        }
    }
}

/// The digest of the record `replica` holds in `record`'s slot.
fn winner(replica: &Replica, record: &SignedRecord) -> Option<RecordHash> {
    replica
        .source
        .get(&SyncKey::of_slot(&SlotKey::of(record)))
        .map(|(digest, _)| *digest)
}

fn assert_same(a: &impl Side<Source = MemorySource>, b: &impl Side<Source = MemorySource>) {
    assert_eq!(a.source().digests(), b.source().digests());
    assert_eq!(
        a.source().fingerprint(&SyncRange::ROOT).unwrap(),
        b.source().fingerprint(&SyncRange::ROOT).unwrap()
    );
}

fn author(n: u8) -> SecretKey {
    fixtures::key(n)
}

fn offer(author_seed: u8, id: u16, version: u64) -> SignedRecord {
    offer_with(author_seed, id, version, |_| {})
}

fn offer_with(
    author_seed: u8,
    id: u16,
    version: u64,
    edit: impl FnOnce(&mut Listing),
) -> SignedRecord {
    let key = author(author_seed);
    let mut listing = fixtures::listing(&key, 0, version);
    listing.id = FixedBytes({
        let mut id_bytes = [0; 16];
        id_bytes[..2].copy_from_slice(&id.to_be_bytes());
        id_bytes
    });
    edit(&mut listing);
    seal(&key, &Payload::Offer(listing)).expect("fixture offers are valid")
}

fn withdrawal(author_seed: u8, id: u16, version: u64) -> SignedRecord {
    let key = author(author_seed);
    let mut w = fixtures::withdrawal(&key, 0, version);
    w.id = offer(author_seed, id, 1).payload().listing().unwrap().id;
    seal(&key, &Payload::Withdrawal(w)).unwrap()
}

fn certificate(issuer: u8, subject: u8) -> SignedRecord {
    let cert = fixtures::certificate(&author(issuer), &author(subject), false);
    seal(&author(issuer), &Payload::Certificate(cert)).unwrap()
}

fn revocation(issuer: u8, certificate: &SignedRecord) -> SignedRecord {
    let revocation = Revocation {
        issuer: author(issuer).public(),
        certificate: *certificate.hash(),
        reason: RevocationReason::KeyLost,
        revoked_at: FIXTURE_NOW,
    };
    seal(&author(issuer), &Payload::Revocation(revocation)).unwrap()
}

#[test]
fn identical_replicas_agree_in_one_small_round_trip() {
    let records: Vec<SignedRecord> = (0..200).map(|i| offer(1, i, 1)).collect();
    let refs: Vec<&SignedRecord> = records.iter().collect();
    let mut a = Replica::new(&refs);
    let mut b = Replica::new(&refs);
    let run = sync(&mut a, &mut b);
    assert_eq!(run.rounds, 1);
    assert!(run.bytes <= 1024, "{} bytes", run.bytes);
    assert_eq!(run.outcome.received + run.outcome.pushed, 0);
}

#[test]
fn known_differences_reconcile_both_ways() {
    let shared: Vec<SignedRecord> = (0..60).map(|i| offer(1, i, 1)).collect();
    // Disjoint additions.
    let only_a: Vec<SignedRecord> = (100..110).map(|i| offer(2, i, 1)).collect();
    let only_b: Vec<SignedRecord> = (200..215).map(|i| offer(3, i, 1)).collect();
    // Newer versions on each side, a withdrawal on one.
    let newer_a = offer(1, 0, 2);
    let newer_b = offer(1, 1, 5);
    let withdrawn_a = withdrawal(1, 2, 3);
    // Expired but not yet forgettable (kept, synced), and forgettable
    // (purged before syncing, never sent).
    let expired = offer_with(4, 1, 1, |l| {
        l.published_at = FIXTURE_NOW - 100 * DAY_SECS;
        l.availability.clear();
        l.expires_at = FIXTURE_NOW - 10 * DAY_SECS;
    });
    let forgettable = offer_with(4, 2, 1, |l| {
        l.published_at = FIXTURE_NOW - 500 * DAY_SECS;
        l.availability.clear();
        l.expires_at = FIXTURE_NOW - 450 * DAY_SECS;
    });

    let mut a_records: Vec<&SignedRecord> = shared.iter().chain(&only_a).collect();
    a_records.extend([&newer_a, &withdrawn_a, &expired]);
    let mut b_records: Vec<&SignedRecord> = shared.iter().chain(&only_b).collect();
    b_records.push(&newer_b);
    let mut a = Replica::new(&a_records);
    let mut b = Replica::new(&b_records);
    b.now = FIXTURE_NOW - 500 * DAY_SECS;
    b.store(&forgettable);
    b.now = FIXTURE_NOW;
    assert_eq!(b.source.len(), 60 + 15 + 1);
    b.purge();
    assert_eq!(b.source.len(), 60 + 15);

    let run = sync(&mut a, &mut b);
    assert_same(&a, &b);
    assert_eq!(a.source.len(), 60 + 10 + 15 + 1);
    for (record, why) in [
        (&newer_a, "newer version from a"),
        (&newer_b, "newer version from b"),
        (&withdrawn_a, "withdrawal from a"),
        (&expired, "expired record not yet forgettable"),
    ] {
        assert_eq!(winner(&b, record), Some(*record.hash()), "{why}");
    }
    assert_eq!(winner(&a, &forgettable), None);
    // Both directions moved in one session: a fetched b's additions and
    // pushed its own.
    assert!(
        run.outcome.received >= 16 && run.outcome.pushed >= 13,
        "{:?}",
        run.outcome
    );
}

#[test]
fn a_newer_version_travels_one_way_only() {
    let shared: Vec<SignedRecord> = (0..200).map(|i| offer(1, i, 1)).collect();
    let newer_a: Vec<SignedRecord> = (0..10).map(|i| offer(1, i, 2)).collect();
    let newer_b: Vec<SignedRecord> = (10..20).map(|i| offer(1, i, 3)).collect();
    // At equal versions a withdrawal wins over a listing.
    let withdrawn_a = withdrawal(1, 20, 4);
    let same_version_b = offer(1, 20, 4);
    let a_records: Vec<&SignedRecord> = shared
        .iter()
        .chain(&newer_a)
        .chain([&withdrawn_a])
        .collect();
    let b_records: Vec<&SignedRecord> = shared
        .iter()
        .chain(&newer_b)
        .chain([&same_version_b])
        .collect();
    let mut a = Replica::new(&a_records);
    let mut b = Replica::new(&b_records);
    let run = sync(&mut a, &mut b);
    assert_same(&a, &b);
    for record in newer_a.iter().chain(&newer_b).chain([&withdrawn_a]) {
        assert_eq!(winner(&a, record), Some(*record.hash()));
    }
    // Each side sends only its winners; the stale versions stay home.
    assert_eq!((run.outcome.pushed, run.outcome.received), (11, 10));
    assert_eq!(b.applied.len(), 11);
    assert_eq!(a.applied.len(), 10);
}

#[test]
fn an_equivocation_travels_both_ways_and_converges() {
    let shared: Vec<SignedRecord> = (0..50).map(|i| offer(2, i, 1)).collect();
    let mine = offer_with(2, 60, 3, |l| l.title = "Nacelle 12 m".into());
    let theirs = offer_with(2, 60, 3, |l| l.title = "Nacelle 14 m".into());
    let mut a = Replica::new(&shared.iter().chain([&mine]).collect::<Vec<_>>());
    let mut b = Replica::new(&shared.iter().chain([&theirs]).collect::<Vec<_>>());
    let run = sync(&mut a, &mut b);
    assert_eq!((run.outcome.pushed, run.outcome.received), (1, 1));
    assert_same(&a, &b);
    let expected = if Rank::of(&mine) > Rank::of(&theirs) {
        &mine
    } else {
        &theirs
    };
    assert_eq!(winner(&a, &mine), Some(*expected.hash()));
}

#[test]
fn a_stored_envelope_gives_the_rank_of_its_record() {
    for record in [
        offer(3, 1, 7),
        withdrawal(3, 1, 9),
        certificate(100, 3),
        revocation(100, &certificate(100, 3)),
    ] {
        assert_eq!(
            SlotRank::of_envelope(record.bytes()).unwrap(),
            SlotRank::of_record(&record)
        );
    }
    assert!(SlotRank::of_envelope(b"not an envelope").is_err());
}

#[test]
fn certificates_and_revocations_arrive_before_listings() {
    let certs: Vec<SignedRecord> = (10..20).map(|s| certificate(100, s)).collect();
    let revocations: Vec<SignedRecord> = certs[..3].iter().map(|c| revocation(100, c)).collect();
    let listings: Vec<SignedRecord> = (10..20)
        .flat_map(|s| (0..8).map(move |i| offer(s, i, 1)))
        .collect();
    let all: Vec<&SignedRecord> = certs.iter().chain(&revocations).chain(&listings).collect();

    // Pushed by the initiator.
    let mut a = Replica::new(&all);
    let mut b = Replica::new(&[]);
    sync(&mut a, &mut b);
    assert_same(&a, &b);
    assert_eq!(b.applied.len(), all.len());
    assert!(
        b.applied.is_sorted(),
        "pushed out of order: {:?}",
        b.applied
    );

    // Fetched by the initiator, including from a responder holding a few
    // listings already.
    let mut c = Replica::new(&listings[..5].iter().collect::<Vec<_>>());
    sync(&mut c, &mut a);
    assert_same(&a, &c);
    assert!(
        c.applied.is_sorted(),
        "fetched out of order: {:?}",
        c.applied
    );
    assert_eq!(c.applied.len(), all.len() - 5);
}

#[test]
fn large_differences_stay_within_message_bounds() {
    // 3.5 KB records: several full messages each way.
    let padded = |slots: std::ops::Range<u32>| {
        let mut side = Synthetic::new([]);
        for slot in slots {
            let (_, _, bytes) = synthetic_record(slot, 1, 3500);
            side.apply(&[ByteBuf::from(bytes.to_vec())]);
        }
        side
    };
    let mut a = padded(0..700);
    let mut b = padded(700..1200);
    let run = sync(&mut a, &mut b);
    assert_same(&a, &b);
    assert_eq!(a.source.len(), 1200);
    assert!(
        run.largest_message > MAX_MESSAGE_BYTES * 3 / 4,
        "messages were filled"
    );
    assert!(run.rounds >= 4, "{} rounds", run.rounds);

    // A new node with nothing fetches everything.
    let mut empty = Synthetic::new([]);
    let run = sync(&mut empty, &mut a);
    assert_same(&empty, &a);
    assert_eq!(run.outcome.pushed, 0);
    assert_eq!(run.outcome.received, 1200);
}

#[test]
fn a_session_stops_at_its_round_limit() {
    let records: Vec<SignedRecord> = (0..120).map(|i| offer(7, i, 1)).collect();
    let mut a = Replica::new(&records.iter().collect::<Vec<_>>());
    let mut b = Replica::new(&[]);
    let limits = SessionLimits {
        max_rounds: 2,
        ..SessionLimits::default()
    };
    // c fetches a's records through many small ranges: more than 2 rounds.
    let mut c = Replica::new(&records[..1].iter().collect::<Vec<_>>());
    let err = sync_with(&mut c, &mut a, limits).unwrap_err();
    assert!(matches!(err, SyncError::TooManyRounds { max: 2 }), "{err}");
    assert!(!err.is_peer_fault());
    let limits = SessionLimits {
        max_pending: 3,
        ..SessionLimits::default()
    };
    let err = sync_with(&mut c, &mut a, limits).unwrap_err();
    assert!(matches!(err, SyncError::TooMuchWork { max: 3 }), "{err}");
    // Pushing everything to an empty replica needs no pending ranges.
    assert_eq!(
        sync_with(&mut a, &mut b, limits).unwrap().outcome.pushed,
        120
    );
}

/// A synthetic record: a listing slot number and a version; the higher
/// version wins, then the higher digest (as the merge's rank does).
struct Synthetic {
    source: MemorySource,
    versions: HashMap<SyncKey, (u32, RecordHash)>,
}

fn synthetic_record(slot: u32, version: u32, padding: usize) -> (SyncKey, RecordHash, Arc<[u8]>) {
    let mut bytes = Vec::with_capacity(8 + padding);
    bytes.extend_from_slice(&slot.to_be_bytes());
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes.resize(8 + padding, 0x5a);
    let mut slot_bytes = vec![0x00];
    slot_bytes.extend_from_slice(&slot.to_be_bytes());
    let digest = FixedBytes(Sha256::digest(&bytes).into());
    (SyncKey::of_slot_bytes(&slot_bytes), digest, bytes.into())
}

impl Synthetic {
    fn new(records: impl IntoIterator<Item = (u32, u32)>) -> Synthetic {
        Synthetic::padded(
            records
                .into_iter()
                .map(|(slot, version)| (slot, version, 0)),
        )
    }

    /// Records given as (slot, version, padding): two paddings of one slot
    /// and version are an equivocation.
    fn padded(records: impl IntoIterator<Item = (u32, u32, usize)>) -> Synthetic {
        let mut side = Synthetic {
            source: MemorySource::new(),
            versions: HashMap::new(),
        };
        for (slot, version, padding) in records {
            let (_, _, bytes) = synthetic_record(slot, version, padding);
            side.apply(&[ByteBuf::from(bytes.to_vec())]);
        }
        side
    }

    /// How many records a session between `self` and `other` must move: one
    /// per slot only one side holds or whose versions differ (the winner
    /// only), two per equivocation (same version, different records).
    fn moves_needed(&self, other: &Synthetic) -> u64 {
        let slots: std::collections::HashSet<&SyncKey> =
            self.versions.keys().chain(other.versions.keys()).collect();
        slots
            .into_iter()
            .map(
                |key| match (self.versions.get(key), other.versions.get(key)) {
                    (Some(a), Some(b)) if a == b => 0,
                    (Some((va, _)), Some((vb, _))) if va == vb => 2,
                    _ => 1,
                },
            )
            .sum()
    }
}

impl Side for Synthetic {
    type Source = MemorySource;

    fn source(&self) -> &MemorySource {
        &self.source
    }

    fn apply(&mut self, records: &[ByteBuf]) {
        for bytes in records {
            let slot = u32::from_be_bytes(bytes[..4].try_into().unwrap());
            let version = u32::from_be_bytes(bytes[4..8].try_into().unwrap());
            let (key, digest, bytes) = synthetic_record(slot, version, bytes.len() - 8);
            if self
                .versions
                .get(&key)
                .is_none_or(|current| (version, digest) > *current)
            {
                self.versions.insert(key, (version, digest));
                let rank = SlotRank {
                    version: version.into(),
                    withdrawal: false,
                };
                self.source.insert(key, digest, rank, bytes);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_differences_reconcile(
        shared in 0u32..600,
        a_changes in proptest::collection::vec((0u32..1200, 1u32..4, 0usize..2), 0..80),
        b_changes in proptest::collection::vec((0u32..1200, 1u32..4, 0usize..2), 0..80),
    ) {
        let base = (0..shared).map(|slot| (slot, 0, 0));
        let mut a = Synthetic::padded(base.clone().chain(a_changes.iter().copied()));
        let mut b = Synthetic::padded(base.chain(b_changes.iter().copied()));
        let mut expected = Synthetic::padded(
            (0..shared).map(|slot| (slot, 0, 0)).chain(a_changes).chain(b_changes),
        );
        let moves = a.moves_needed(&b);
        let run = sync(&mut a, &mut b);
        assert_same(&a, &b);
        assert_same(&a, &expected);
        // No stale version travels: only winners, and both sides of an
        // equivocation.
        prop_assert_eq!(run.outcome.received + run.outcome.pushed, moves);
        // The session is idempotent: a second one finds nothing to do.
        let again = sync(&mut b, &mut expected);
        prop_assert_eq!(again.rounds, 1);
        prop_assert!(run.rounds <= 12, "{} rounds", run.rounds);
    }
}

#[test]
fn oversized_messages_are_refused_before_decoding() {
    let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        decode_request(&huge),
        Err(MessageError::TooLarge {
            size: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
    assert!(matches!(
        decode_response(&huge),
        Err(MessageError::TooLarge { .. })
    ));
}

#[test]
fn garbage_is_refused_with_a_typed_error() {
    let request = Request {
        queries: vec![Query::Fetch(SyncRange::ROOT, None)],
        push: vec![ByteBuf::from(vec![1, 2, 3])],
    };
    let good = encode_request(&request);
    assert_eq!(decode_request(&good), Ok(request));
    let mut trailing = good.clone();
    trailing.push(0);
    for bytes in [
        &b""[..],
        b"\xff\xff",
        &good[..good.len() - 1],
        &trailing,
        b"\xa2\x00\x80\x01\x81\xf9\x00\x00",
    ] {
        assert!(
            matches!(decode_request(bytes), Err(MessageError::Malformed { .. })),
            "{bytes:02x?}"
        );
        assert!(matches!(
            decode_response(bytes),
            Err(MessageError::Malformed { .. })
        ));
    }
    // A deep nest of arrays is refused, not a stack overflow.
    let nested = [vec![0x81u8; 10_000], vec![0x00]].concat();
    assert!(matches!(
        decode_request(&nested),
        Err(MessageError::Malformed { .. })
    ));
}

/// CBOR of a request `{0: queries, 1: push}` with hand-made queries.
fn raw_request(queries: &[Vec<u8>], push: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0xa2, 0x00];
    out.extend(cbor_array_header(queries.len()));
    for q in queries {
        out.extend(q);
    }
    out.push(0x01);
    out.extend(cbor_array_header(push.len()));
    for p in push {
        out.extend(cbor_bytes_header(p.len()));
        out.extend(p);
    }
    out
}

fn cbor_array_header(len: usize) -> Vec<u8> {
    cbor_header(4, len)
}

fn cbor_bytes_header(len: usize) -> Vec<u8> {
    cbor_header(2, len)
}

fn cbor_header(major: u8, len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![major << 5 | len as u8],
        24..=0xff => vec![major << 5 | 24, len as u8],
        0x100..=0xffff => [vec![major << 5 | 25], (len as u16).to_be_bytes().to_vec()].concat(),
        _ => [vec![major << 5 | 26], (len as u32).to_be_bytes().to_vec()].concat(),
    }
}

/// `[3, bits, prefix, null]`: a fetch of the range.
fn fetch_query(bits: u8, prefix: &[u8]) -> Vec<u8> {
    let mut q = vec![0x84, 0x03];
    q.extend(cbor_header(0, usize::from(bits)));
    q.extend(cbor_bytes_header(prefix.len()));
    q.extend(prefix);
    q.push(0xf6);
    q
}

#[test]
fn encoding_matches_the_documented_layout() {
    let good = raw_request(&[fetch_query(4, &[0xa0])], &[vec![7; 3]]);
    let request = decode_request(&good).unwrap();
    assert_eq!(encode_request(&request), good);
    let Query::Fetch(range, None) = &request.queries[0] else {
        panic!("{request:?}")
    };
    assert_eq!((range.bits(), range.start().0[0]), (4, 0xa0));
    assert_eq!(request.push, vec![ByteBuf::from(vec![7; 3])]);

    // `[0, 10, h'c140', 300, h'tag']`: a fingerprint, range and summary
    // inline.
    let fingerprint_query = [
        &[0x85, 0x00, 0x0a, 0x42, 0xc1, 0x40, 0x19, 0x01, 0x2c, 0x50][..],
        &[9; 16],
    ]
    .concat();
    // `[1, 0, h'', [h'slot tag || id', rank, ...]]`: an ids query, its
    // entries one flat array; version 7, a withdrawal: rank 2 × 7 + 1.
    let ids_query = [
        &[0x84, 0x01, 0x00, 0x40, 0x84, 0x50][..],
        &[2; 8],
        &[1; 8],
        &[0x0f, 0x50],
        &[3; 8],
        &[4; 8],
        &[0x18, 0x18],
    ]
    .concat();
    // `[2, 0, h'', h'tag || tag']`: a want, its tags one byte string.
    let want_query = [&[0x84, 0x02, 0x00, 0x40, 0x50][..], &[2; 8], &[3; 8]].concat();
    let good = raw_request(&[fingerprint_query, ids_query, want_query], &[]);
    let request = decode_request(&good).unwrap();
    assert_eq!(encode_request(&request), good);
    let entry = |slot: u8, id: u8, version: u64, withdrawal: bool| Entry {
        slot: FixedBytes([slot; 8]),
        id: FixedBytes([id; 8]),
        rank: SlotRank {
            version,
            withdrawal,
        }
        .code(),
    };
    let mut key = [0; 32];
    key[..2].copy_from_slice(&[0xc1, 0x40]);
    assert_eq!(
        request.queries,
        vec![
            Query::Fingerprint(
                SyncRange::new(&SyncKey(key), 10).unwrap(),
                Summary {
                    count: 300,
                    tag: FixedBytes([9; 16])
                }
            ),
            Query::Ids(
                SyncRange::ROOT,
                vec![entry(2, 1, 7, true), entry(3, 4, 12, false)]
            ),
            Query::Want(
                SyncRange::ROOT,
                vec![FixedBytes([2; 8]), FixedBytes([3; 8])]
            ),
        ]
    );

    // `{0: [[1, 5, h'..', 0, h'..', 0, h'..', 0, h'..'], [2, [h'..', 2]],
    // [3, h'', h'tag'], [4, true, null], 0], 1: []}`: a split (its four
    // summaries inline), an ids answer, a diff (nothing wanted, one tag
    // unsent), a fetched and an equal (a bare 0).
    let mut split = vec![0x89, 0x01];
    for count in [5u8, 0, 0, 0] {
        split.extend([count, 0x50]);
        split.extend([count; 16]);
    }
    let good = [
        &[0xa2, 0x00, 0x85][..],
        &split,
        &[0x82, 0x02, 0x82, 0x50],
        &[5; 8],
        &[6; 8],
        &[0x02, 0x83, 0x03, 0x40, 0x48],
        &[7; 8],
        &[0x83, 0x04, 0xf5, 0xf6],
        &[0x00, 0x01, 0x80],
    ]
    .concat();
    let response = decode_response(&good).unwrap();
    assert_eq!(encode_response(&response), good);
    let summary = |count: u8| Summary {
        count: count.into(),
        tag: FixedBytes([count; 16]),
    };
    assert_eq!(
        response.answers,
        vec![
            Answer::Split(vec![summary(5), summary(0), summary(0), summary(0)]),
            Answer::Ids(vec![entry(5, 6, 1, false)]),
            Answer::Diff(vec![], vec![FixedBytes([7; 8])]),
            Answer::Fetched(true, None),
            Answer::Equal,
        ]
    );

    // An entry without its rank, a tag string of 7 bytes, a key of 15, a
    // fingerprint without its tag, a fetch with an extra item, an unknown
    // variant.
    let truncated = [&[0x84, 0x01, 0x00, 0x40, 0x81, 0x50][..], &[0; 16]].concat();
    let short_tags = [&[0x84, 0x02, 0x00, 0x40, 0x47][..], &[0; 7]].concat();
    let short_key = [&[0x84, 0x01, 0x00, 0x40, 0x82, 0x4f][..], &[0; 15], &[0x02]].concat();
    let no_tag = vec![0x84, 0x00, 0x00, 0x40, 0x01];
    let extra = vec![0x85, 0x03, 0x00, 0x40, 0xf6, 0x00];
    let unknown = vec![0x84, 0x07, 0x00, 0x40, 0xf6];
    for query in [truncated, short_tags, short_key, no_tag, extra, unknown] {
        assert!(
            matches!(
                decode_request(&raw_request(std::slice::from_ref(&query), &[])),
                Err(MessageError::Malformed { .. })
            ),
            "{query:02x?}"
        );
    }
    // A bare integer other than 0, a split with a count but no tag.
    for answer in [vec![0x01], vec![0x82, 0x01, 0x05]] {
        let bytes = [&[0xa2, 0x00, 0x81][..], &answer, &[0x01, 0x80]].concat();
        assert!(
            matches!(decode_response(&bytes), Err(MessageError::Malformed { .. })),
            "{answer:02x?}"
        );
    }
}

#[test]
fn ranks_are_coded_in_the_merge_order() {
    let ranks = [
        (1, false),
        (1, true),
        (2, false),
        (11, true),
        (u64::MAX / 2, false),
        (u64::MAX / 2, true),
    ]
    .map(|(version, withdrawal)| SlotRank {
        version,
        withdrawal,
    });
    assert!(ranks.windows(2).all(|pair| pair[0] < pair[1]));
    let codes = ranks.map(SlotRank::code);
    assert!(codes.windows(2).all(|pair| pair[0] < pair[1]), "{codes:?}");
    assert_eq!(codes[..4], [2, 3, 4, 23]);
    assert_eq!(codes[5], u64::MAX);
    // Versions from 2^63 on saturate: equal codes, so both records travel.
    let huge = SlotRank {
        version: u64::MAX,
        withdrawal: false,
    };
    assert_eq!(huge.code(), u64::MAX);
    assert_eq!(SlotRank::default().code(), 0);
}

#[test]
fn limits_are_enforced_on_decode() {
    let too_many = vec![fetch_query(0, &[]); MAX_QUERIES + 1];
    assert!(matches!(
        decode_request(&raw_request(&too_many, &[])),
        Err(MessageError::TooMany {
            field: "queries",
            ..
        })
    ));
    let big_record = vec![0u8; mutua_protocol::codec::MAX_RECORD_BYTES + 1];
    assert!(matches!(
        decode_request(&raw_request(&[], &[big_record])),
        Err(MessageError::RecordTooLarge { .. })
    ));
    let many_records = vec![vec![]; MAX_RECORDS_PER_MESSAGE + 1];
    assert!(matches!(
        decode_request(&raw_request(&[], &many_records)),
        Err(MessageError::TooMany {
            field: "records",
            ..
        })
    ));
    // Ranges: odd bit counts, prefixes of the wrong length, stray bits.
    for (bits, prefix) in [
        (3, vec![0xa0]),
        (4, vec![]),
        (4, vec![0xa0, 0]),
        (4, vec![0xa8]),
        (130, vec![0; 17]),
    ] {
        let bytes = raw_request(&[fetch_query(bits, &prefix)], &[]);
        assert!(
            matches!(decode_request(&bytes), Err(MessageError::Malformed { .. })),
            "{bits} bits, prefix {prefix:02x?}"
        );
    }
    let entry = Entry {
        slot: FixedBytes([0; 8]),
        id: FixedBytes([0; 8]),
        rank: 0,
    };
    let request = Request {
        queries: vec![Query::Ids(SyncRange::ROOT, vec![entry; MAX_IDS + 1])],
        push: vec![],
    };
    assert!(matches!(
        decode_request(&encode_request(&request)),
        Err(MessageError::TooMany { field: "ids", .. })
    ));
    let outside = Request {
        queries: vec![Query::Fetch(
            SyncRange::ROOT.children().unwrap()[0],
            Some(SyncKey([0xff; 32])),
        )],
        push: vec![],
    };
    assert!(matches!(
        decode_request(&encode_request(&outside)),
        Err(MessageError::CursorOutsideRange { .. })
    ));
    let response = Response {
        answers: vec![Answer::Split(
            vec![FixedBytes([0; 16]); 3]
                .into_iter()
                .map(|tag| Summary { count: 1, tag })
                .collect(),
        )],
        records: vec![],
    };
    assert_eq!(
        decode_response(&encode_response(&response)),
        Err(MessageError::BadSplit { count: 3 })
    );
    let response = Response {
        answers: vec![Answer::Diff(vec![], vec![FixedBytes([0; 8]); MAX_IDS + 1])],
        records: vec![],
    };
    assert!(matches!(
        decode_response(&encode_response(&response)),
        Err(MessageError::TooMany { field: "slots", .. })
    ));
    let want = Request {
        queries: vec![Query::Want(
            SyncRange::ROOT,
            vec![FixedBytes([0; 8]); MAX_IDS + 1],
        )],
        push: vec![],
    };
    assert!(matches!(
        decode_request(&encode_request(&want)),
        Err(MessageError::TooMany { field: "slots", .. })
    ));
}

#[test]
fn responses_that_do_not_answer_the_request_are_peer_faults() {
    let records: Vec<SignedRecord> = (0..40).map(|i| offer(8, i, 1)).collect();
    let a = Replica::new(&records.iter().collect::<Vec<_>>());
    let start = || InitiatorSession::start(SessionLimits::default(), a.source()).unwrap();

    let (mut session, _) = start();
    let wrong_count = Response {
        answers: vec![Answer::Equal, Answer::Equal],
        records: vec![],
    };
    let err = session
        .handle_response(&wrong_count, a.source())
        .unwrap_err();
    assert!(err.is_peer_fault());
    assert!(matches!(
        err,
        SyncError::Peer(MessageError::AnswerCount {
            expected: 1,
            got: 2
        })
    ));

    let (mut session, _) = start();
    let wrong_kind = Response {
        answers: vec![Answer::Fetched(false, None)],
        records: vec![],
    };
    let err = session
        .handle_response(&wrong_kind, a.source())
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Peer(MessageError::UnexpectedAnswer { index: 0, .. })
        ),
        "{err}"
    );

    // A fetch whose cursor does not move forward would loop.
    let empty = Replica::new(&[]);
    let (mut session, request) =
        InitiatorSession::start(SessionLimits::default(), empty.source()).unwrap();
    assert!(matches!(request.queries[..], [Query::Fetch(_, None)]));
    let page = |last: u8| Response {
        answers: vec![Answer::Fetched(true, Some(SyncKey([last; 32])))],
        records: vec![],
    };
    let Step::Send(next) = session
        .handle_response(&page(0x90), empty.source())
        .unwrap()
    else {
        panic!("more was announced");
    };
    assert_eq!(
        next.queries,
        vec![Query::Fetch(SyncRange::ROOT, Some(SyncKey([0x90; 32])))]
    );
    let err = session
        .handle_response(&page(0x90), empty.source())
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Peer(MessageError::CursorBackwards { index: 0 })
        ),
        "{err}"
    );
}

#[test]
fn records_too_large_to_be_valid_are_never_sent() {
    let mut a = Synthetic::new((0..30).map(|slot| (slot, 1)));
    let (_, _, huge) = synthetic_record(99, 1, mutua_protocol::codec::MAX_RECORD_BYTES);
    a.apply(&[ByteBuf::from(huge.to_vec())]);
    let mut b = Synthetic::new((0..30).map(|slot| (slot, 1)));
    let mut c = Synthetic::new([]);
    // Neither pushed by an initiator nor sent by a responder, and no session
    // keeps asking for it.
    assert_eq!(sync(&mut a, &mut b).outcome.pushed, 0);
    assert_eq!(sync(&mut c, &mut a).outcome.received, 30);
    assert_eq!((b.source.len(), c.source.len()), (30, 30));
}

/// A replica whose leaf lists show another digest for some of its items, as
/// if its record in the slot had the same 8-byte item id as the other side's
/// record (a collision only the slot's author could grind, about 2^32
/// records). Fingerprints and records stay true.
struct Disguised {
    inner: Synthetic,
    /// Key → (the digest stored, the digest the lists show instead).
    disguise: HashMap<SyncKey, (RecordHash, RecordHash)>,
}

impl SyncSource for Disguised {
    type Error = Infallible;

    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, Infallible> {
        self.inner.source.fingerprint(range)
    }

    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, Infallible> {
        let items = self.inner.source.items(range, after, limit)?;
        Ok(items
            .into_iter()
            .map(|(key, digest)| match self.disguise.get(&key) {
                Some((stored, shown)) if *stored == digest => (key, *shown),
                _ => (key, digest),
            })
            .collect())
    }

    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, Infallible> {
        self.inner.source.record(key)
    }

    fn rank(&self, key: &SyncKey) -> Result<SlotRank, Infallible> {
        self.inner.source.rank(key)
    }
}

impl Side for Disguised {
    type Source = Disguised;

    fn source(&self) -> &Disguised {
        self
    }

    fn apply(&mut self, records: &[ByteBuf]) {
        self.inner.apply(records)
    }
}

/// Two records of one slot and version (padding 0 and 1) whose entries
/// coincide: the lists show no difference, the fingerprints do. The
/// initiator exchanges the whole range and the merge settles the slot.
#[test]
fn entries_that_coincide_over_differing_fingerprints_exchange_the_range() {
    const SLOT: u32 = 1000;
    let mut paths = Vec::new();
    for shared in [3, 8, 34, 200] {
        let base = || (0..shared).map(|slot| (slot, 1, 0));
        let a = Synthetic::padded(base().chain([(SLOT, 2, 0)]));
        let mut b = Synthetic::padded(base().chain([(SLOT, 2, 1)]));
        let (key, stored, _) = synthetic_record(SLOT, 2, 0);
        let (_, shown, _) = synthetic_record(SLOT, 2, 1);
        // Down the ranges holding the slot, the initiator sends a
        // fingerprint, the responder splits, the initiator compares the
        // children, and so on: the responder lists a range it holds few items
        // in when asked for its fingerprint (the initiator then finds the
        // lists equal); the initiator lists a child of a split where the
        // responder holds few (both sides hold as many), and the responder
        // answers `Equal`.
        let count = |range: &SyncRange| b.source.fingerprint(range).unwrap().count;
        let mut range = SyncRange::ROOT;
        let initiator_lists = loop {
            if count(&range) <= LEAF_ITEMS {
                break false;
            }
            let child = |r: SyncRange| {
                r.children()
                    .unwrap()
                    .into_iter()
                    .find(|c| c.contains(&key))
                    .unwrap()
            };
            range = child(range);
            if count(&range) <= LEAF_ITEMS {
                break true;
            }
            range = child(range);
        };
        paths.push(initiator_lists);
        let mut a = Disguised {
            inner: a,
            disguise: HashMap::from([(key, (stored, shown))]),
        };
        let mut expected = Synthetic::padded(base().chain([(SLOT, 2, 0), (SLOT, 2, 1)]));
        let run = sync(&mut a, &mut b);
        assert_same(&a.inner, &b);
        assert_same(&a.inner, &expected);
        assert_eq!(
            run.ids_answered_equal,
            usize::from(initiator_lists),
            "{shared} shared"
        );
        assert!(
            run.outcome.pushed >= 1 && run.outcome.received >= 1,
            "{:?}",
            run.outcome
        );
        // Nothing left to do.
        let again = sync(&mut b, &mut expected);
        assert_eq!(again.rounds, 1);
    }
    assert!(paths.contains(&true) && paths.contains(&false), "{paths:?}");
}
