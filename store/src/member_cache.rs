//! The members' set (see the `members` module) as queries and ingest read it.
//!
//! Ingest used to check every record's signer by reading and decoding its
//! certificate chain (a prefix scan and a record read per link): a tenth of
//! the applying thread's time at 20k listings (BENCHMARKS.md). A set valid
//! at `now` answers the same question exactly (it holds every key whose
//! chain holds at any time in its validity), so apply looks the signer up
//! there and checks the chain only for a key it does not hold (to name the
//! failed rule) or while the set is stale.

use mutua_protocol::{PublicKey, Timestamp};

use crate::error::StoreError;
use crate::layout::CERTIFICATE_KIND;
use crate::members::MemberSet;
use crate::{Store, WriterState};

impl Store {
    /// The members at `now` (cached; see the `members` module).
    pub(crate) fn with_members<T>(
        &self,
        now: Timestamp,
        f: impl FnOnce(&MemberSet) -> T,
    ) -> Result<T, StoreError> {
        let generation = {
            let members = self.inner.members.read().expect("member lock");
            if members.is_valid_at(now) {
                return Ok(f(&members));
            }
            members.generation()
        };
        let computed = MemberSet::compute(&self.replica(), &self.inner.anchors, now)?;
        let result = f(&computed);
        self.inner
            .members
            .write()
            .expect("member lock")
            .install(computed, generation);
        Ok(result)
    }

    /// Whether the members' set says `key` is a member at `now`; `false`
    /// also when the set is stale and not worth recomputing yet: the caller
    /// then checks the chain. The caller holds the writer lock, and the
    /// tree holds every certificate and revocation it applied.
    ///
    /// Recomputing checks one chain per certificate, so a stale set is
    /// recomputed once as many chains were checked since it went stale:
    /// a stream of records that keeps invalidating it (certificates between
    /// listings) costs at most twice the chain checks it would without the
    /// set, and a long run of listings costs one lookup each.
    pub(crate) fn known_member(
        &self,
        state: &mut WriterState,
        key: &PublicKey,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        {
            let members = self.inner.members.read().expect("member lock");
            if members.is_valid_at(now) {
                return Ok(members.members.contains(key));
            }
        }
        state.chain_checks += 1;
        if state.chain_checks < state.counts[CERTIFICATE_KIND] {
            return Ok(false);
        }
        state.chain_checks = 0;
        self.with_members(now, |members| members.members.contains(key))
    }
}
