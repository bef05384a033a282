//! The two sides of a session and the loop that runs one between them
//! through the codec; signed records made from fixtures.

use std::collections::HashMap;
use std::convert::Infallible;
use std::ops::Range;

use mutua_protocol::fixtures::{self, FIXTURE_NOW};
use mutua_protocol::merge::{forget_after, merge, Rank, SlotKey};
use mutua_protocol::model::*;
use mutua_protocol::sync::memory::MemorySource;
use mutua_protocol::sync::*;
use mutua_protocol::{open, seal, SecretKey, SignedRecord};
use serde_bytes::ByteBuf;

/// One side of a session, as the node would run it.
pub trait Side {
    type Source: SyncSource<Error = Infallible>;
    fn source(&self) -> &Self::Source;
    /// Applies the records of one message.
    fn apply(&mut self, records: &[ByteBuf]);
}

/// A replica of signed records: verifies, refuses what may be forgotten at
/// `now`, keeps the winner of each slot by [`Rank`].
pub struct Replica {
    pub source: MemorySource,
    ranks: HashMap<SyncKey, Rank>,
    pub now: Timestamp,
    /// The class of every record applied, in order.
    pub applied: Vec<SyncClass>,
}

impl Replica {
    pub fn new(records: &[&SignedRecord]) -> Replica {
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

    pub fn store(&mut self, record: &SignedRecord) {
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
    pub fn purge(&mut self) {
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
pub struct Run {
    pub rounds: u32,
    pub bytes: usize,
    pub largest_message: usize,
    pub outcome: Outcome,
    /// `Ids` queries answered `Equal` (lists showing no difference).
    pub ids_answered_equal: usize,
}

/// Runs a session from `a` (initiator) to `b`, through the codec.
pub fn sync(a: &mut impl Side, b: &mut impl Side) -> Run {
    sync_with(a, b, SessionLimits::default()).expect("the session completes")
}

pub fn sync_with(
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
pub fn winner(replica: &Replica, record: &SignedRecord) -> Option<RecordHash> {
    replica
        .source
        .get(&SyncKey::of_slot(&SlotKey::of(record)))
        .map(|(digest, _)| *digest)
}

pub fn assert_same(a: &impl Side<Source = MemorySource>, b: &impl Side<Source = MemorySource>) {
    assert_eq!(a.source().digests(), b.source().digests());
    assert_eq!(
        a.source().fingerprint(&SyncRange::ROOT).unwrap(),
        b.source().fingerprint(&SyncRange::ROOT).unwrap()
    );
}

pub fn author(n: u8) -> SecretKey {
    fixtures::key(n)
}

pub fn offer(author_seed: u8, id: u16, version: u64) -> SignedRecord {
    offer_with(author_seed, id, version, |_| {})
}

/// Offers `ids` by one author, all at one version.
pub fn offers(author_seed: u8, ids: Range<u16>, version: u64) -> Vec<SignedRecord> {
    ids.map(|id| offer(author_seed, id, version)).collect()
}

pub fn offer_with(
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

pub fn withdrawal(author_seed: u8, id: u16, version: u64) -> SignedRecord {
    let key = author(author_seed);
    let mut w = fixtures::withdrawal(&key, 0, version);
    w.id = offer(author_seed, id, 1).payload().listing().unwrap().id;
    seal(&key, &Payload::Withdrawal(w)).unwrap()
}

pub fn certificate(issuer: u8, subject: u8) -> SignedRecord {
    let cert = fixtures::certificate(&author(issuer), &author(subject), false);
    seal(&author(issuer), &Payload::Certificate(cert)).unwrap()
}

pub fn revocation(issuer: u8, certificate: &SignedRecord) -> SignedRecord {
    let revocation = Revocation {
        issuer: author(issuer).public(),
        certificate: *certificate.hash(),
        reason: RevocationReason::KeyLost,
        revoked_at: FIXTURE_NOW,
    };
    seal(&author(issuer), &Payload::Revocation(revocation)).unwrap()
}
