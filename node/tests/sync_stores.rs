//! Reconciliation between two real stores on disk (sled, signed records,
//! fingerprints from the store's buckets), driven by the protocol's state
//! machine in one process: known differences, then randomised ones.

use std::time::{SystemTime, UNIX_EPOCH};

use mutua_node::sync::{reconcile_local, LocalReport};
use mutua_protocol::SignedRecord;
use mutua_store::synth::{self, Rng};
use mutua_store::Store;
use tempfile::TempDir;

const MEMBERS: u64 = 6;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(synth::store_config(dir.path().join("store"))).unwrap();
    (dir, store)
}

fn apply(store: &Store, records: Vec<SignedRecord>) {
    for applied in store.apply_batch(records, now()).unwrap() {
        assert!(applied.outcome.is_stored(), "{:?}", applied.outcome);
    }
}

fn listing(member: u64, id: u64, version: u64, rng: &mut Rng) -> SignedRecord {
    synth::sealed_listing(&synth::key("member", member), id, version, now(), rng)
}

fn withdrawal(member: u64, id: u64, version: u64) -> SignedRecord {
    synth::sealed_withdrawal(&synth::key("member", member), id, version, now())
}

/// Reconciles both ways' differences in one session and checks the result:
/// equal digests, then a second session that is one round trip with nothing
/// to move. Returns what the first session did.
fn reconcile_and_check(a: &Store, b: &Store) -> LocalReport {
    let first = reconcile_local(a, b, now()).unwrap();
    assert_eq!(a.digest().unwrap(), b.digest().unwrap(), "{first:?}");
    assert_eq!(a.stats().unwrap().total, b.stats().unwrap().total);
    let again = reconcile_local(b, a, now()).unwrap();
    assert_eq!((again.rounds, again.received, again.pushed), (1, 0, 0));
    assert!(
        again.request_bytes + again.response_bytes < 1024,
        "{again:?}"
    );
    first
}

#[test]
fn two_stores_with_known_differences_reconcile_to_identical_digests() {
    let (_da, a) = store();
    let (_db, b) = store();
    let mut rng = Rng::new(1);
    // Shared: certificates of members 0..5 and 100 listings.
    let certificates = synth::member_certificates(0..MEMBERS - 1, now());
    let shared: Vec<_> = (0..100)
        .map(|id| listing(id % (MEMBERS - 1), id, 1, &mut rng))
        .collect();
    for store in [&a, &b] {
        apply(store, certificates.clone());
        apply(store, shared.clone());
    }
    // Disjoint additions.
    apply(
        &a,
        (100..130)
            .map(|id| listing(id % 5, id, 1, &mut rng))
            .collect(),
    );
    apply(
        &b,
        (130..160)
            .map(|id| listing(id % 5, id, 1, &mut rng))
            .collect(),
    );
    // Newer versions on each side.
    apply(
        &a,
        (0..10).map(|id| listing(id % 5, id, 2, &mut rng)).collect(),
    );
    apply(
        &b,
        (10..20)
            .map(|id| listing(id % 5, id, 3, &mut rng))
            .collect(),
    );
    // The same slots updated on both sides: the higher version wins.
    apply(
        &a,
        (20..25)
            .map(|id| listing(id % 5, id, 4, &mut rng))
            .collect(),
    );
    apply(
        &b,
        (20..25)
            .map(|id| listing(id % 5, id, 5, &mut rng))
            .collect(),
    );
    // Withdrawals on each side.
    apply(&a, (30..35).map(|id| withdrawal(id % 5, id, 2)).collect());
    apply(&b, (35..40).map(|id| withdrawal(id % 5, id, 2)).collect());
    // A member only B knows, with listings: its certificate must arrive
    // before them (one batch carries both).
    apply(&b, vec![synth::member_certificate(MEMBERS - 1, now())]);
    apply(
        &b,
        (200..220)
            .map(|id| listing(MEMBERS - 1, id, 1, &mut rng))
            .collect(),
    );
    assert_ne!(a.digest().unwrap(), b.digest().unwrap());

    let report = reconcile_and_check(&a, &b);
    // Only winners move, each once: 30 + 30 additions, 10 + 10 newer
    // versions, 5 slots both updated (B's win), 5 + 5 withdrawals, and B's
    // member with its certificate and 20 listings. The outdated versions
    // stay where they are.
    assert_eq!(report.received + report.pushed, 116, "{report:?}");
    let stats = a.stats().unwrap();
    assert_eq!(stats.certificates, MEMBERS);
    assert_eq!(stats.withdrawals, 10);
    assert_eq!(stats.total, MEMBERS + 100 + 60 + 20);
}

#[test]
fn two_stores_with_randomised_differences_reconcile_to_identical_digests() {
    for seed in 0..6 {
        let (_da, a) = store();
        let (_db, b) = store();
        let mut rng = Rng::new(seed);
        let certificates = synth::member_certificates(0..MEMBERS, now());
        apply(&a, certificates.clone());
        apply(&b, certificates);
        let slots = 40 + rng.below(200);
        for id in 0..slots {
            let member = id % MEMBERS;
            // Each side holds nothing, a version, or a withdrawal of the slot.
            for store in [&a, &b] {
                let version = rng.below(4);
                let record = match version {
                    0 => continue,
                    _ if rng.chance(15) => withdrawal(member, id, version),
                    _ => listing(member, id, version, &mut rng),
                };
                // The other side may already hold a higher version.
                store.apply_batch(vec![record], now()).unwrap();
            }
        }
        let (initiator, responder) = if rng.chance(50) { (&a, &b) } else { (&b, &a) };
        reconcile_and_check(initiator, responder);
    }
}

/// The last ranges of the key space deeper than the store's 12-bit buckets
/// (prefix all ones, no end key) were summarised as empty on both sides, so
/// their differences never moved: one bucket holding more than a leaf's worth
/// of items, the differences in its last quarter.
#[test]
fn differences_at_the_end_of_the_key_space_below_the_last_bucket_reconcile() {
    use mutua_node::sync::StoreSource;
    use mutua_protocol::sync::{SyncKey, SyncRange, SyncSource};
    use mutua_protocol::{FixedBytes, SlotKey};

    let member = 0;
    let author = synth::key("member", member).public();
    let sync_key = |id: u64| {
        let mut listing_id = [0u8; 16];
        listing_id[..8].copy_from_slice(&id.to_be_bytes());
        SyncKey::of_slot(&SlotKey::Listing {
            author,
            id: FixedBytes(listing_id),
        })
    };
    // Slots of the last bucket (first 12 bits all ones): twelve in its first
    // three quarters, three in its last quarter (the range 0xfffc/14, which
    // runs to the end of the key space).
    let (mut shared, mut last_quarter) = (Vec::new(), Vec::new());
    for id in 0.. {
        let key = sync_key(id);
        if key.0[0] != 0xff || key.0[1] < 0xf0 {
            continue;
        }
        if key.0[1] >= 0xfc {
            if last_quarter.len() < 3 {
                last_quarter.push(id);
            }
        } else if shared.len() < 12 {
            shared.push(id);
        }
        if shared.len() == 12 && last_quarter.len() == 3 {
            break;
        }
    }
    let (_da, a) = store();
    let (_db, b) = store();
    let mut rng = Rng::new(7);
    let shared: Vec<_> = shared
        .iter()
        .map(|id| listing(member, *id, 1, &mut rng))
        .collect();
    // One certificate for both: two made a second apart would differ and sync.
    let certificate = synth::member_certificate(member, now());
    for store in [&a, &b] {
        apply(store, vec![certificate.clone()]);
        apply(store, shared.clone());
    }
    // Two the responder alone holds, one the initiator alone holds.
    apply(
        &a,
        last_quarter[..2]
            .iter()
            .map(|id| listing(member, *id, 1, &mut rng))
            .collect(),
    );
    apply(&b, vec![listing(member, last_quarter[2], 1, &mut rng)]);

    let last = SyncRange::new(&SyncKey([0xff; 32]), 14).unwrap();
    assert_eq!(last.end(), None);
    let fingerprint = StoreSource(&a).fingerprint(&last).unwrap();
    let items = StoreSource(&a).items(&last, None, 100).unwrap();
    assert_eq!((fingerprint.count, items.len()), (2, 2));

    let report = reconcile_and_check(&b, &a);
    assert_eq!((report.received, report.pushed), (2, 1), "{report:?}");
}
