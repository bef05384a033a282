//! The store as a reconciliation source for `mutua_protocol::sync`.

use mutua_protocol::sync::{Fingerprint, SlotRank, SyncKey, SyncRange, SyncSource};
use mutua_protocol::RecordHash;
use mutua_store::{Store, StoreError};

/// The store as a reconciliation source: fingerprints from its incrementally
/// maintained buckets, items from its sync index, envelopes as stored.
pub struct StoreSource<'a>(pub &'a Store);

fn store_range(range: &SyncRange) -> mutua_store::SyncRange {
    mutua_store::SyncRange {
        start: range.start(),
        end: range.end(),
    }
}

/// The key right after `key`, or `None` after the last key.
fn successor(key: &SyncKey) -> Option<SyncKey> {
    let mut next = key.0;
    for byte in next.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            return Some(SyncKey(next));
        }
    }
    None
}

impl SyncSource for StoreSource<'_> {
    type Error = StoreError;

    fn fingerprint(&self, range: &SyncRange) -> Result<Fingerprint, StoreError> {
        self.0.sync_fingerprint(&store_range(range))
    }

    fn items(
        &self,
        range: &SyncRange,
        after: Option<&SyncKey>,
        limit: usize,
    ) -> Result<Vec<(SyncKey, RecordHash)>, StoreError> {
        let mut bounds = store_range(range);
        if let Some(after) = after.filter(|a| **a >= range.start()) {
            match successor(after) {
                Some(next) => bounds.start = next,
                None => return Ok(Vec::new()),
            }
        }
        if bounds.end.is_some_and(|end| end <= bounds.start) {
            return Ok(Vec::new());
        }
        self.0.sync_items(&bounds, limit)
    }

    fn record(&self, key: &SyncKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.envelope_by_sync_key(key)
    }

    /// Read from the stored envelope (the sync entry holds no version): only
    /// the few items of a leaf list are ranked, and the store verified every
    /// record it holds.
    fn rank(&self, key: &SyncKey) -> Result<SlotRank, StoreError> {
        Ok(self
            .record(key)?
            .and_then(|envelope| SlotRank::of_envelope(&envelope).ok())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_carries_and_ends() {
        let mut key = [0u8; 32];
        key[31] = 0xff;
        let mut expected = [0u8; 32];
        expected[30] = 1;
        assert_eq!(successor(&SyncKey(key)), Some(SyncKey(expected)));
        assert_eq!(successor(&SyncKey([0xff; 32])), None);
    }
}
