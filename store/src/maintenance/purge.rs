//! Forgetting the records of keys that stopped being members (PROTOCOL.md,
//! *Membership*: a node keeps a listing, a withdrawal or a lending record
//! only while its signer is a member).
//!
//! Membership is judged when a record arrives, so without this a revocation
//! that overtook a member's listings in a partition left them stored where
//! they had arrived first and refused where they arrived after it: the
//! replicas' digests never met again. Deleting them where they are stored
//! makes the listing class a function of the certificates and revocations
//! held, which sync makes equal everywhere.
//!
//! Only the listing class is forgotten: it decides no membership, so the
//! result does not depend on the order of the deletions. A pass runs after a
//! batch that stored a revocation and at every sweep (a certificate that
//! ended, a crash after a revocation), and only when the members' set
//! changed since the last pass: it visits each author once (a seek per
//! author in the authored slot kinds, a read of each loan event).

use std::collections::{BTreeSet, HashSet};

use mutua_protocol::{Payload, PublicKey, SignedRecord, Timestamp};

use super::{Pending, CHUNK};
use crate::index;
use crate::layout::{key, prefix, StoredRecord};
use crate::overlay::Reader;
use crate::{Applied, Store, WriterState};

/// The first byte of the slots named by their author (`0x00 ‖ author ‖ …`:
/// listings, lending settings, requests, decisions; `sync::range`).
const AUTHORED_SLOTS: [u8; 4] = [0x00, 0x03, 0x04, 0x05];
/// Listing slots: their records have a search document.
const LISTING_SLOT: u8 = 0x00;
/// Loan events are named by their hash: their signer is read from each.
const LOAN_EVENT_SLOT: u8 = 0x06;

impl Store {
    /// Deletes every listing-class record whose signer is not a member at
    /// `now`, unless no membership changed since the last pass; returns how
    /// many. Flushed, and the search index published, before it returns.
    pub fn forget_non_members(&self, now: Timestamp) -> Result<u64, crate::StoreError> {
        let mut writer = self
            .inner
            .writer
            .lock()
            .map_err(|_| crate::StoreError::Poisoned)?;
        self.forget_non_members_locked(&mut writer, now)
    }

    /// After a batch: a revocation it stored may have ended memberships.
    pub(crate) fn purge_after_revocations(
        &self,
        records: &[SignedRecord],
        outcomes: &[Applied],
        now: Timestamp,
    ) -> Result<(), crate::StoreError> {
        let revoked = records.iter().zip(outcomes).any(|(record, applied)| {
            applied.outcome.is_stored() && matches!(record.payload(), Payload::Revocation(_))
        });
        if revoked {
            self.forget_non_members(now)?;
        }
        Ok(())
    }

    /// [`Store::forget_non_members`] under the writer lock the caller holds.
    pub(super) fn forget_non_members_locked(
        &self,
        writer: &mut WriterState,
        now: Timestamp,
    ) -> Result<u64, crate::StoreError> {
        let Some((members, generation)) = self.with_members(now, |m| {
            (!m.is_purged_at(now)).then(|| (m.members.clone(), m.generation()))
        })?
        else {
            return Ok(0);
        };
        let doomed = self.slots_of_non_members(&members)?;
        let forgotten = self.forget_slots(writer, &doomed)?;
        self.inner
            .members
            .write()
            .expect("member lock")
            .mark_purged(generation, now);
        Ok(forgotten)
    }

    /// The record keys' slots (without the `r`) whose signer is not in
    /// `members`.
    fn slots_of_non_members(
        &self,
        members: &HashSet<PublicKey>,
    ) -> Result<Vec<Vec<u8>>, crate::StoreError> {
        let tree = &self.inner.tree;
        let mut doomed = Vec::new();
        for kind in AUTHORED_SLOTS {
            let mut from = vec![prefix::RECORD, kind];
            while let Some(k) = tree.range(from.clone()..).keys().next().transpose()? {
                let Some(author) = k
                    .strip_prefix(&[prefix::RECORD, kind][..])
                    .and_then(|rest| rest.get(..32))
                    .and_then(|a| <[u8; 32]>::try_from(a).ok())
                else {
                    break;
                };
                let next = next_author(kind, &author);
                if !members.contains(&PublicKey(author)) {
                    let keys = match &next {
                        Some(end) => tree.range(k.to_vec()..end.clone()),
                        None => tree.range(k.to_vec()..),
                    };
                    for slot_key in keys.keys() {
                        doomed.push(slot_key?[1..].to_vec());
                    }
                }
                match next {
                    Some(n) => from = n,
                    None => break,
                }
            }
        }
        for entry in tree.scan_prefix([prefix::RECORD, LOAN_EVENT_SLOT]) {
            let (k, v) = entry?;
            let envelope = self.inner.packing.unpack(&k, &v)?;
            let stored = StoredRecord::decode(&k, &envelope)?;
            if !members.contains(stored.payload.expected_signer()) {
                doomed.push(k[1..].to_vec());
            }
        }
        Ok(doomed)
    }

    /// Forgets the records in these slots, each sled batch with the journal
    /// entry of the search documents it changes; returns how many.
    fn forget_slots(
        &self,
        writer: &mut WriterState,
        slots: &[Vec<u8>],
    ) -> Result<u64, crate::StoreError> {
        if slots.is_empty() {
            return Ok(0);
        }
        let tree = &self.inner.tree;
        let swept_until = self.swept_until()?;
        let buckets = self.inner.buckets.read().expect("bucket lock").clone();
        let mut pending = Pending::new(self.replica(), writer.clone(), buckets);
        let mut forgotten = 0;
        for chunk in slots.chunks(CHUNK) {
            let mut changes = Vec::new();
            let mut calendars = BTreeSet::new();
            for slot in chunk {
                let record_key = key(prefix::RECORD, &[slot]);
                let Some(stored) = pending.overlay.record(&record_key)? else {
                    continue;
                };
                if slot[0] == LISTING_SLOT {
                    changes.push(index::Change {
                        slot: slot.clone(),
                        doc: None,
                    });
                }
                let forget = Self::stored_forget_after(&pending, slot)?;
                calendars.extend(self.forget_stored(&mut pending, slot, &stored, forget)?);
                forgotten += 1;
            }
            // The offers whose calendars lost records (and are kept) get
            // their new documents in the same batch.
            for (author, offer) in &calendars {
                if let Some(change) =
                    index::offer_change(&pending.overlay, author, offer, swept_until)?
                {
                    index::replace_change(&mut changes, change);
                }
            }
            crate::journal_changes(
                &mut pending.overlay,
                &mut pending.state.seq,
                &changes,
                Vec::new(),
            );
            pending.commit(tree, &[])?;
            if !changes.is_empty() {
                self.inner.search.stage(pending.state.seq, changes);
            }
        }
        self.inner.db.flush()?;
        let seq = pending.state.seq;
        self.install(writer, pending, false);
        self.inner.search.publish(seq)?;
        Ok(forgotten)
    }
}

/// The first record key after every slot of `author` in `kind`: the author
/// plus one, or `None` after the last possible author.
fn next_author(kind: u8, author: &[u8; 32]) -> Option<Vec<u8>> {
    let mut next = *author;
    for byte in next.iter_mut().rev() {
        if *byte == u8::MAX {
            *byte = 0;
        } else {
            *byte += 1;
            let mut k = vec![prefix::RECORD, kind];
            k.extend_from_slice(&next);
            return Some(k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::next_author;

    #[test]
    fn the_next_author_carries_and_ends_after_the_last_key() {
        let mut a = [0u8; 32];
        a[31] = 0xff;
        a[30] = 0x01;
        let next = next_author(0x00, &a).expect("not the last");
        assert_eq!(&next[..2], &[b'r', 0x00]);
        assert_eq!(next[2 + 30], 0x02);
        assert_eq!(next[2 + 31], 0x00);
        assert_eq!(next_author(0x00, &[0xff; 32]), None);
    }
}
