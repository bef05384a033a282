//! Membership from the stored certificates and revocations.
//!
//! Ingest checks a signer's chain directly against the store (a handful of
//! point reads) when the set below cannot answer (`member_cache`). Queries
//! use [`MemberSet`]: the set of keys that are members at
//! a given time, recomputed when a certificate or revocation is stored or
//! forgotten, and when the time passes a certificate's `valid_from` or
//! `valid_until` (at most ~35k members: about a megabyte). Revoking a
//! syndicate therefore hides, at the next query, the listings of every commune
//! it admitted, and the purge (`maintenance::purge`) then forgets them.

use std::cell::RefCell;
use std::collections::HashSet;

use mutua_protocol::membership::{check_membership, MembershipView};
use mutua_protocol::{Certificate, Payload, PublicKey, RecordHash, Revocation, Timestamp};

use crate::error::StoreError;
use crate::layout::{key, prefix, slot_bytes, StoredRecord};
use crate::overlay::{Reader, Replica};

/// A [`MembershipView`] over the tree, or over the tree and the pending
/// writes of a batch. The trait cannot fail, so the first storage error is
/// kept and reported by [`TreeView::finish`].
pub struct TreeView<'a> {
    tree: &'a dyn Reader,
    error: RefCell<Option<StoreError>>,
}

impl<'a> TreeView<'a> {
    pub fn new(tree: &'a dyn Reader) -> Self {
        TreeView {
            tree,
            error: RefCell::new(None),
        }
    }

    /// The result of the checks made through this view, unless storage failed.
    pub fn finish<T>(self, result: T) -> Result<T, StoreError> {
        match self.error.into_inner() {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    fn keep<T>(&self, result: Result<T, StoreError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }

    fn record(&self, slot: mutua_protocol::SlotKey) -> Option<StoredRecord> {
        let key = key(prefix::RECORD, &[&slot_bytes(&slot)]);
        self.keep(self.tree.record(&key))?
    }

    /// The hashes that follow `prefix` in the keys of a lookup range.
    fn hashes_under(&self, lookup: &[u8]) -> Vec<RecordHash> {
        let keys = self
            .keep(self.tree.keys_with_prefix(lookup).map_err(StoreError::from))
            .unwrap_or_default();
        keys.iter()
            .filter_map(|k| {
                let tail: [u8; 32] = k.get(lookup.len()..)?.try_into().ok()?;
                Some(mutua_protocol::FixedBytes(tail))
            })
            .collect()
    }
}

impl MembershipView for TreeView<'_> {
    fn certificates_for(&self, subject: &PublicKey) -> Vec<(RecordHash, Certificate)> {
        self.hashes_under(&key(prefix::CERT_SUBJECT, &[subject.as_bytes()]))
            .into_iter()
            .filter_map(|h| {
                match self
                    .record(mutua_protocol::SlotKey::Certificate(h))?
                    .payload
                {
                    Payload::Certificate(c) => Some((h, c)),
                    _ => None,
                }
            })
            .collect()
    }

    fn revocations_of(&self, certificate: &RecordHash) -> Vec<Revocation> {
        self.hashes_under(&key(prefix::REVOKES, &[&certificate.0]))
            .into_iter()
            .filter_map(
                |h| match self.record(mutua_protocol::SlotKey::Revocation(h))?.payload {
                    Payload::Revocation(r) => Some(r),
                    _ => None,
                },
            )
            .collect()
    }
}

/// The members at some time, valid for `now` in `[computed_at, valid_until)`.
#[derive(Debug, Default)]
pub struct MemberSet {
    pub members: HashSet<PublicKey>,
    /// The members' first 8 key bytes, for the search index's collector.
    pub author_prefixes: std::sync::Arc<crate::index::AuthorPrefixes>,
    computed_at: Timestamp,
    valid_until: Timestamp,
    /// Set when a certificate or revocation is stored or forgotten.
    stale: bool,
    /// Counts invalidations: a set computed from sled while a membership
    /// change was being written must not be installed over its
    /// invalidation (it may predate the change and would hide the new
    /// member's listings until the next change).
    generation: u64,
    /// Whether the records of the keys outside this set were forgotten
    /// (`maintenance::purge`): a set computed anew starts unpurged.
    purged: bool,
}

impl MemberSet {
    pub fn stale() -> MemberSet {
        MemberSet {
            stale: true,
            ..MemberSet::default()
        }
    }

    pub fn invalidate(&mut self) {
        self.stale = true;
        self.generation += 1;
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Installs `computed` in place of this set unless an invalidation came
    /// since `generation` was read.
    pub fn install(&mut self, mut computed: MemberSet, generation: u64) {
        if self.generation == generation {
            computed.generation = generation;
            *self = computed;
        }
    }

    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        !self.stale && self.computed_at <= now && now < self.valid_until
    }

    /// Whether no record of a non-member can be stored at `now`: this set
    /// holds for `now` and a purge ran with it.
    pub fn is_purged_at(&self, now: Timestamp) -> bool {
        self.purged && self.is_valid_at(now)
    }

    /// Records that a purge ran with the set of `generation` at `now`
    /// (nothing if the set changed since).
    pub fn mark_purged(&mut self, generation: u64, now: Timestamp) {
        if self.generation == generation && self.is_valid_at(now) {
            self.purged = true;
        }
    }

    /// Every certificate subject whose chain holds at `now`, plus the anchors.
    pub fn compute(
        replica: &Replica<'_>,
        anchors: &[PublicKey],
        now: Timestamp,
    ) -> Result<MemberSet, StoreError> {
        let view = TreeView::new(replica);
        let tree = replica.tree;
        let mut members: HashSet<PublicKey> = anchors.iter().copied().collect();
        let mut valid_until = Timestamp::MAX;
        let mut last_subject = None;
        for entry in tree.scan_prefix([prefix::CERT_SUBJECT]).keys() {
            let k = entry?;
            let Some(subject) = k.get(1..33).and_then(|s| <[u8; 32]>::try_from(s).ok()) else {
                return Err(StoreError::corrupt(
                    &k,
                    "certificate lookup key is too short",
                ));
            };
            let subject = PublicKey(subject);
            if last_subject == Some(subject) {
                continue;
            }
            last_subject = Some(subject);
            for (_, c) in view.certificates_for(&subject) {
                // The set changes when any certificate starts or ends.
                for t in [c.valid_from, c.valid_until] {
                    if t > now {
                        valid_until = valid_until.min(t);
                    }
                }
            }
            if check_membership(&view, anchors, &subject, now).is_ok() {
                members.insert(subject);
            }
        }
        view.finish(MemberSet {
            author_prefixes: crate::index::author_prefixes(&members),
            members,
            computed_at: now,
            valid_until,
            stale: false,
            generation: 0,
            purged: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::MemberSet;

    fn computed() -> MemberSet {
        MemberSet {
            valid_until: u64::MAX,
            ..MemberSet::default()
        }
    }

    /// A query computing the set while a certificate is written must not
    /// install what it read before the write over the write's invalidation.
    #[test]
    fn a_set_computed_across_an_invalidation_is_not_installed() {
        let mut current = MemberSet::stale();
        let seen = current.generation();
        current.invalidate();
        current.install(computed(), seen);
        assert!(
            !current.is_valid_at(1),
            "still stale: the next query recomputes"
        );
        let seen = current.generation();
        current.install(computed(), seen);
        assert!(current.is_valid_at(1));
    }
}
