//! Child process of the crash test (store/tests/crash.rs): ingests synthetic
//! records in batches and prints one line per acknowledged (flushed) record:
//! `ack <sync key hex> <record hash hex> <version>`, after the batch's
//! `apply_batch` returned. The test kills it with SIGKILL at random moments.
//! With `single`, it applies one record per call (as publishing and gossip
//! do) and never checkpoints the search index (so every kill falls between
//! checkpoints, with acknowledged listings only in its RAM part).
//!
//! Usage: mutua-store-crashtest <store dir> <cycle number> [single]

use std::io::Write;

use mutua_protocol::{Rank, SignedRecord};
use mutua_store::synth::{self, Rng};
use mutua_store::{Store, SyncKey};

const MEMBERS: u64 = 4;
const BATCH: u64 = 16;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(cycle)) = (args.next(), args.next().and_then(|c| c.parse::<u64>().ok()))
    else {
        eprintln!("usage: mutua-store-crashtest <store dir> <cycle number>");
        std::process::exit(2);
    };
    let single = args.next().as_deref() == Some("single");
    let now = synth::NOW;
    let mut config = synth::store_config(dir);
    // Trained (and the envelopes packed) within the first cycles of a store,
    // so that kills land before, during and after it.
    config.dictionary_at_listings = 24;
    if single {
        config.search_checkpoints = mutua_store::SearchCheckpoints {
            every_seqs: u64::MAX,
            every: None,
        };
    }
    let store = Store::open(config).expect("open the store");
    let certificates = synth::member_certificates(0..MEMBERS, now);
    let mut out = std::io::stdout().lock();
    let applied = store
        .apply_batch(certificates.clone(), now)
        .expect("apply certificates");
    ack(&mut out, &certificates, &applied);
    let author = synth::key("member", cycle % MEMBERS);
    let mut rng = Rng::new(cycle);
    for batch in 0u64.. {
        let base = (cycle << 32) | (batch * BATCH);
        let mut records: Vec<_> = (0..BATCH)
            .map(|i| synth::sealed_listing(&author, base + i, 1, now, &mut rng))
            .collect();
        if batch > 0 {
            // Replace and withdraw listings of the previous batch, so that
            // crashes also hit index removals.
            let previous = base - BATCH;
            records.push(synth::sealed_listing(&author, previous, 2, now, &mut rng));
            records.push(synth::sealed_withdrawal(&author, previous + 1, 2, now));
        }
        if single {
            for record in records {
                let applied = store.apply(record.clone(), now).expect("apply a record");
                ack(&mut out, &[record], &[applied]);
            }
        } else {
            let applied = store
                .apply_batch(records.clone(), now)
                .expect("apply a batch");
            ack(&mut out, &records, &applied);
        }
    }
}

fn ack(out: &mut impl Write, records: &[SignedRecord], applied: &[mutua_store::Applied]) {
    for (record, a) in records.iter().zip(applied) {
        assert!(
            a.outcome.is_stored() || a.outcome == mutua_store::ApplyOutcome::IgnoredDuplicate,
            "unexpected outcome {:?}",
            a.outcome
        );
        writeln!(
            out,
            "ack {} {} {}",
            mutua_protocol::hex(&SyncKey::of_slot(&a.slot).0),
            a.hash.to_hex(),
            Rank::of(record).version,
        )
        .and_then(|()| out.flush())
        .expect("stdout");
    }
}
