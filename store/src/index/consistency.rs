//! The index's half of the store: documents read back from sled, catching
//! up at open, rebuilding, `check`, and the index's statistics.

use std::sync::atomic::Ordering;

use mutua_protocol::{ListingId, Payload, PublicKey, RecordHash, SlotKey};

use super::{hash8, journal_key, Change, Doc, SearchIndexStats};
use crate::error::StoreError;
use crate::layout::{self, key, prefix, slot_bytes, StoredRecord};
use crate::lending::OfferLending;
use crate::overlay::{Reader, Replica};

/// The document of a listing record, if it is to be indexed: an offer's
/// comes with its calendar, read through `reader` (apply, replay, rebuild
/// and check use this one rule).
pub fn doc_of(
    reader: &impl Reader,
    payload: &Payload,
    hash: RecordHash,
    swept_until: u64,
) -> Result<Option<Doc>, StoreError> {
    let Some((side, listing)) = layout::indexable(payload, swept_until) else {
        return Ok(None);
    };
    let lending = match payload {
        Payload::Offer(l) => Some(OfferLending::read(reader, &l.author, &l.id)?),
        _ => None,
    };
    Ok(Some(Doc {
        side,
        listing: listing.clone(),
        hash,
        lending,
    }))
}

/// What a listing slot holds for the index now, read through `reader`.
pub fn current_doc(
    reader: &impl Reader,
    slot: &[u8],
    swept_until: u64,
) -> Result<Change, StoreError> {
    let record_key = key(prefix::RECORD, &[slot]);
    let doc = match reader.record(&record_key)? {
        Some(record) => doc_of(reader, &record.payload, record.hash, swept_until)?,
        None => None,
    };
    Ok(Change {
        slot: slot.to_vec(),
        doc,
    })
}

/// The change a lending record about the offer `(author, offer)` makes:
/// the offer's document with its new calendar, if the offer is indexed.
pub fn offer_change(
    reader: &impl Reader,
    author: &PublicKey,
    offer: &ListingId,
    swept_until: u64,
) -> Result<Option<Change>, StoreError> {
    let slot = slot_bytes(&SlotKey::Listing {
        author: *author,
        id: *offer,
    });
    let change = current_doc(reader, &slot, swept_until)?;
    Ok(change
        .doc
        .as_ref()
        .is_some_and(|d| d.lending.is_some())
        .then_some(change))
}

/// Adds `change` to a batch's changes, replacing an earlier one of its slot
/// (the lending records of one offer in one batch).
pub fn replace_change(changes: &mut Vec<Change>, change: Change) {
    changes.retain(|c| c.slot != change.slot);
    changes.push(change);
}

/// Every indexable listing in sled, as documents.
pub fn all_docs(
    replica: Replica<'_>,
    swept_until: u64,
) -> impl Iterator<Item = Result<Change, StoreError>> + '_ {
    replica
        .tree
        .scan_prefix([prefix::RECORD, 0])
        .filter_map(move |entry| {
            let (k, v) = match entry {
                Ok(e) => e,
                Err(e) => return Some(Err(e.into())),
            };
            let doc = replica
                .packing
                .unpack(&k, &v)
                .and_then(|envelope| StoredRecord::decode(&k, &envelope))
                .and_then(|record| doc_of(&replica, &record.payload, record.hash, swept_until));
            match doc {
                Ok(doc) => doc.map(|doc| {
                    Ok(Change {
                        slot: k[1..].to_vec(),
                        doc: Some(doc),
                    })
                }),
                Err(e) => Some(Err(e)),
            }
        })
}

impl crate::Store {
    /// Brings the search index up to sled's search sequence at open: replays
    /// the journal entries it misses, or rebuilds it when it is new, older
    /// than the journal reaches, or ahead of sled (a restored sled
    /// directory).
    pub(crate) fn catch_up_search(&self) -> Result<(), StoreError> {
        let search = &self.inner.search;
        let mut writer = self.inner.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let tree = &self.inner.tree;
        let swept_until = self.swept_until()?;
        let seq = writer.seq;
        let mut journal = Vec::new();
        for entry in tree.scan_prefix([prefix::JOURNAL]) {
            let (k, v) = entry?;
            let s = layout::u64_value(&k[1..])
                .ok_or_else(|| StoreError::corrupt(&k, "journal key is not a sequence"))?;
            journal.push((s, v));
        }
        let missing =
            |from: u64| (from..=seq).any(|s| journal.binary_search_by_key(&s, |e| e.0).is_err());
        match search.covered() {
            Some(c) if c == seq => {}
            Some(c) if c < seq && !missing(c + 1) => {
                let mut slots = std::collections::BTreeSet::new();
                for (s, v) in &journal {
                    if *s > c {
                        let listed = crate::counts::parse_journal(v)
                            .map(|(_, slots)| slots)
                            .filter(|slots| slots.len().is_multiple_of(layout::LISTING_SLOT_LEN))
                            .ok_or_else(|| {
                                StoreError::corrupt(
                                    &journal_key(*s),
                                    "journal value is not a list of slots",
                                )
                            })?;
                        slots.extend(
                            listed
                                .chunks_exact(layout::LISTING_SLOT_LEN)
                                .map(<[u8]>::to_vec),
                        );
                    }
                }
                tracing::info!(
                    from = c,
                    to = seq,
                    listings = slots.len(),
                    "replaying the search journal"
                );
                let changes = slots
                    .iter()
                    .map(|slot| current_doc(&self.replica(), slot, swept_until))
                    .collect::<Result<Vec<_>, _>>()?;
                search.apply_now(&changes, seq)?;
            }
            covered => {
                tracing::warn!(?covered, seq, "building the search index from the records");
                let count = search.rebuild(all_docs(self.replica(), swept_until), seq)?;
                tracing::info!(listings = count, "search index built");
            }
        }
        // Covered entries are deleted by the next write's sled batch, not
        // here: a store opened only to read must not write.
        writer.journal_from = journal.first().map_or(seq + 1, |e| e.0);
        search.checkpoint()
    }

    /// Rebuilds the search index from sled (`reindex`). Call with the
    /// writer lock held.
    pub(crate) fn rebuild_search(&self, seq: u64) -> Result<u64, StoreError> {
        let swept_until = self.swept_until()?;
        self.inner
            .search
            .rebuild(all_docs(self.replica(), swept_until), seq)
    }

    /// `check`'s half for the search index, both ways: every listing sled
    /// holds that is to be indexed is in it once, of the stored version; it
    /// holds nothing else but listings expired by the last sweep time that
    /// wait for the next sweep (never served: queries check expiry).
    /// Listings whose change is in flight (written to sled, not yet
    /// published) are skipped. Call with the writer lock held. Returns how
    /// many listings sled expects in the index.
    pub(crate) fn check_search(&self, report: &mut crate::CheckReport) -> Result<u64, StoreError> {
        let search = &self.inner.search;
        let swept_until = self.swept_until()?;
        let (in_flight, mut in_index) = search.slots_and_staged()?;
        let mut expected = 0;
        for entry in all_docs(self.replica(), swept_until) {
            let change = match entry {
                Ok(c) => c,
                Err(_) => continue, // an undecodable record: reported by `check`
            };
            let Some(doc) = change.doc else { continue };
            expected += 1;
            let slot = change.slot;
            let record_key = key(prefix::RECORD, &[&slot]);
            if in_flight.contains(&slot) {
                in_index.remove(&slot);
                continue;
            }
            match in_index.remove(&slot).as_deref() {
                None | Some([]) => {
                    report.problem(&record_key, "listing is missing from the search index")
                }
                Some([one]) if one.hash8 != hash8(&doc.hash) => report.problem(
                    &record_key,
                    "the search index holds another version of this listing",
                ),
                Some([one]) if one.calendar != doc.calendar_digest() => report.problem(
                    &record_key,
                    "the search index holds another calendar of this offer",
                ),
                Some([_]) => {}
                Some(many) => report.problem(
                    &record_key,
                    format!("listing is {} times in the search index", many.len()),
                ),
            }
        }
        for (slot, docs) in in_index {
            if in_flight.contains(&slot) || docs.iter().all(|d| d.expires_at <= swept_until) {
                continue;
            }
            report.problem(
                &key(prefix::RECORD, &[&slot]),
                "the search index holds a listing that sled does not hold or index",
            );
        }
        Ok(expected)
    }

    /// The search index's size, listings and write time.
    pub fn search_index_stats(&self) -> SearchIndexStats {
        let search = &self.inner.search;
        let nanos = |n: &std::sync::atomic::AtomicU64| {
            std::time::Duration::from_nanos(n.load(Ordering::Relaxed))
        };
        SearchIndexStats {
            disk_bytes: search.disk_bytes(),
            // A statistic: a read error shows as no listings (`check`
            // reports the index's problems).
            listings: search.num_docs().unwrap_or(0),
            unsaved_listings: search.view().map_or(0, |v| v.masked.len()) as u64,
            checkpointed_seq: search.covered().unwrap_or(0),
            publish_time: nanos(&search.publish_nanos),
            checkpoint_time: nanos(&search.checkpoint_nanos),
        }
    }

    /// Makes the search index durable now: its disk index committed and
    /// synced, covering every change published (the node does it at
    /// shutdown through `Drop` too).
    pub fn checkpoint_search(&self) -> Result<(), StoreError> {
        self.inner.search.checkpoint()
    }
}
