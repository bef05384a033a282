//! The blocking part of [`Ingest::ingest_import`](super::Ingest::ingest_import):
//! an export lists records in key order, not in admission order, so a
//! listing may come before its author's certificate and a certificate
//! before its issuer's. They are applied as sync applies a batch
//! ([`order_for_apply`]: certificates, then revocations, then listings),
//! certificates themselves issuers first, each record seeing those before it.

use std::collections::{HashMap, VecDeque};

use mutua_protocol::membership::MAX_CHAIN_DEPTH;
use mutua_protocol::sync::order_for_apply;
use mutua_protocol::{Payload, PublicKey, RecordHash, SignedRecord, Timestamp};
use mutua_store::verify::open_all;
use mutua_store::{Rejection, Store};

use super::{store_failure, IngestOutcome, NotStored};

/// Opens and applies `envelopes` in one batch; one outcome per envelope, in
/// their order.
pub(super) fn import_all(
    store: &Store,
    envelopes: &[Vec<u8>],
    now: Timestamp,
) -> Vec<IngestOutcome> {
    let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; envelopes.len()];
    let mut records = Vec::with_capacity(envelopes.len());
    // Where each record is in the request, by hash (a file may hold one
    // record twice: each copy gets its own outcome, in order).
    let mut positions: HashMap<RecordHash, VecDeque<usize>> = HashMap::new();
    for (index, opened) in open_all(envelopes).into_iter().enumerate() {
        match opened {
            Ok(record) => {
                positions
                    .entry(*record.hash())
                    .or_default()
                    .push_back(index);
                records.push(record);
            }
            Err(e) => outcomes[index] = Some(IngestOutcome::from_rejection(Rejection::Record(e))),
        }
    }
    order_for_import(&mut records);
    let order: Vec<usize> = records
        .iter()
        .filter_map(|r| positions.get_mut(r.hash()).and_then(VecDeque::pop_front))
        .collect();
    let opened = records.len();
    match store.apply_batch(records, now) {
        Ok(applied) => {
            for (index, applied) in order.into_iter().zip(applied) {
                outcomes[index] = Some(IngestOutcome::from_applied(applied));
            }
        }
        Err(e) => {
            let failed = store_failure(e);
            for index in order.into_iter().take(opened) {
                outcomes[index] = Some(failed.clone());
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                IngestOutcome::Ignored(NotStored::Task("the record was not applied".into()))
            })
        })
        .collect()
}

/// [`order_for_apply`], with the certificates of the batch ordered by how
/// many certificates of the batch stand between them and one whose issuer
/// the batch does not certify (an anchor, or a member already stored).
pub(super) fn order_for_import(records: &mut [SignedRecord]) {
    let mut issuers: HashMap<PublicKey, Vec<PublicKey>> = HashMap::new();
    for record in records.iter() {
        if let Payload::Certificate(c) = record.payload() {
            issuers.entry(c.subject).or_default().push(c.issuer);
        }
    }
    // Both sorts are stable: the depth order survives within certificates.
    records.sort_by_key(|record| match record.payload() {
        Payload::Certificate(c) => depth(&issuers, &c.issuer, MAX_CHAIN_DEPTH),
        _ => 0,
    });
    order_for_apply(records);
}

/// How many batch certificates certify `key` in a chain, at most `left`
/// (which also ends a cycle).
fn depth(issuers: &HashMap<PublicKey, Vec<PublicKey>>, key: &PublicKey, left: usize) -> usize {
    match issuers.get(key) {
        Some(of_key) if left > 0 => {
            1 + of_key
                .iter()
                .map(|issuer| depth(issuers, issuer, left - 1))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::fixtures::{self, FIXTURE_NOW};
    use mutua_store::StoreConfig;

    fn seal(key: &mutua_protocol::SecretKey, payload: Payload) -> Vec<u8> {
        mutua_protocol::seal(key, &payload)
            .unwrap()
            .bytes()
            .to_vec()
    }

    /// A chain anchor → syndicate → commune, and the commune's listing,
    /// given in the worst order: every record before the one admitting it.
    #[test]
    fn an_import_in_any_order_admits_a_whole_chain() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = fixtures::key(1);
        let syndicate = fixtures::key(2);
        let commune = fixtures::key(3);
        let store = Store::open(StoreConfig::new(dir.path(), vec![anchor.public()])).unwrap();
        let envelopes = vec![
            seal(&commune, Payload::Offer(fixtures::listing(&commune, 7, 1))),
            b"not an envelope".to_vec(),
            seal(
                &syndicate,
                Payload::Certificate(fixtures::certificate(&syndicate, &commune, false)),
            ),
            seal(
                &anchor,
                Payload::Certificate(fixtures::certificate(&anchor, &syndicate, true)),
            ),
        ];
        let outcomes = import_all(&store, &envelopes, FIXTURE_NOW);
        let labels: Vec<_> = outcomes.iter().map(IngestOutcome::label).collect();
        assert_eq!(labels, ["accepted", "rejected", "accepted", "accepted"]);
        // The same file again: every record already stored, said per index.
        let again = import_all(&store, &envelopes, FIXTURE_NOW);
        let codes: Vec<_> = again.iter().map(IngestOutcome::code).collect();
        assert_eq!(codes[0], "ignored_duplicate");
        assert_eq!(codes[2], "ignored_duplicate");
        assert_eq!(codes[3], "ignored_duplicate");
    }

    #[test]
    fn a_certificate_cycle_still_ends() {
        let a = fixtures::key(4);
        let b = fixtures::key(5);
        let mut records: Vec<SignedRecord> = [(&a, &b), (&b, &a)]
            .into_iter()
            .map(|(issuer, subject)| {
                let c = fixtures::certificate(issuer, subject, true);
                mutua_protocol::seal(issuer, &Payload::Certificate(c)).unwrap()
            })
            .collect();
        order_for_import(&mut records);
        assert_eq!(records.len(), 2);
    }
}
