//! What the fuzz targets and the corpus generator share: the fixed replicas
//! the `sync_messages` target answers from and starts sessions with.

use std::sync::Arc;

use mutua_protocol::fixtures::{certificate, key, listing, withdrawal, FIXTURE_NOW};
use mutua_protocol::sync::memory::MemorySource;
use mutua_protocol::sync::{SlotRank, SyncKey};
use mutua_protocol::{seal, Payload, Revocation, RevocationReason, SignedRecord, SlotKey};

/// One valid record of every kind, signed by fixture key 1.
pub fn fixture_records() -> Vec<SignedRecord> {
    let (anchor, member) = (key(1), key(2));
    let certificate = seal(
        &anchor,
        &Payload::Certificate(certificate(&anchor, &member, true)),
    )
    .expect("valid fixture");
    let payloads = [
        Payload::Offer(listing(&anchor, 7, 1)),
        Payload::Need(listing(&anchor, 8, 3)),
        Payload::Withdrawal(withdrawal(&anchor, 9, 2)),
        Payload::Revocation(Revocation {
            issuer: anchor.public(),
            certificate: *certificate.hash(),
            reason: RevocationReason::KeyLost,
            revoked_at: FIXTURE_NOW,
        }),
    ];
    let mut records: Vec<SignedRecord> = payloads
        .iter()
        .map(|payload| seal(&anchor, payload).expect("valid fixture"))
        .collect();
    records.push(certificate);
    records
}

/// A replica holding the first `count` fixture records.
pub fn replica(records: &[SignedRecord], count: usize) -> MemorySource {
    let mut source = MemorySource::new();
    for record in records.iter().take(count) {
        source.insert(
            SyncKey::of_slot(&SlotKey::of(record)),
            *record.hash(),
            SlotRank::of_record(record),
            Arc::from(record.bytes()),
        );
    }
    source
}

/// The replicas of the `sync_messages` target: the responder holds every
/// fixture record; the initiator holds some (mode bit 1 clear: its root
/// fingerprint differs, so it starts with a fingerprint query) or none (set:
/// it starts with a fetch of the whole key space).
pub struct Replicas {
    pub responder: MemorySource,
    pub partial: MemorySource,
    pub empty: MemorySource,
}

impl Replicas {
    pub fn new() -> Replicas {
        let records = fixture_records();
        Replicas {
            responder: replica(&records, records.len()),
            partial: replica(&records, 2),
            empty: MemorySource::new(),
        }
    }

    /// The initiator's replica for a mode byte.
    pub fn initiator(&self, mode: u8) -> &MemorySource {
        if mode & 2 == 0 {
            &self.partial
        } else {
            &self.empty
        }
    }
}

impl Default for Replicas {
    fn default() -> Self {
        Replicas::new()
    }
}
