//! When the sweep forgets records, without a forget entry per record.
//!
//! Up to layout 9 every record had a forget entry (`f forget_after slot`),
//! so that the sweep found the records due by a range read; it was one of
//! the four or more sled keys written per record (BENCHMARKS.md). Since
//! layout 10 the forget time is read from the sync entry, which holds it,
//! and the sweep works from an in-memory [`Schedule`]: every [`HORIZON`]
//! (and at the first sweep after open) it scans the sync entries once and
//! keeps the records due within the next [`HORIZON`]; `apply` adds every
//! record it stores that is due before the schedule's horizon. So the
//! schedule holds every record due before its horizon, and each sweep
//! forgets exactly what is due, as before, with one scan per horizon
//! instead of one forget entry per record. An entry may be stale (its
//! slot replaced by a later version, or already forgotten): the sweep
//! checks each one against the sync entry.

use std::collections::BTreeSet;

use mutua_protocol::Timestamp;

use crate::error::StoreError;
use crate::layout::{prefix, SyncValue};

/// How far ahead one scan of the sync entries schedules: the sweep scans
/// them at most once per horizon (of the `now` it is given).
pub const HORIZON: Timestamp = 3600;

/// The records due before `horizon` (a superset: see the module docs).
#[derive(Debug, Default)]
pub struct Schedule {
    /// Nothing is known before the first scan (0).
    horizon: Timestamp,
    /// (forget_after, slot)
    due: BTreeSet<(Timestamp, Vec<u8>)>,
}

impl Schedule {
    /// Adds a record `apply` stored, if it is due before the horizon.
    pub fn stored(&mut self, forget_after: Timestamp, slot: &[u8]) {
        if forget_after < self.horizon {
            self.due.insert((forget_after, slot.to_vec()));
        }
    }

    /// The slots that may be due at `now` (to be checked against their sync
    /// entries), scanning the sync entries first if `now` reached the
    /// horizon; they leave the schedule.
    pub fn take_due(
        &mut self,
        tree: &sled::Tree,
        now: Timestamp,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if now >= self.horizon {
            let horizon = now.saturating_add(HORIZON);
            let mut due = BTreeSet::new();
            for entry in tree.scan_prefix([prefix::SYNC]) {
                let (k, v) = entry?;
                let value = SyncValue::decode(&k, &v)?;
                if value.forget_after < horizon {
                    due.insert((value.forget_after, value.slot));
                }
            }
            *self = Schedule { horizon, due };
        }
        let later = self.due.split_off(&(now.saturating_add(1), Vec::new()));
        let due = std::mem::replace(&mut self.due, later);
        let mut slots: Vec<Vec<u8>> = due.into_iter().map(|(_, slot)| slot).collect();
        slots.sort();
        slots.dedup();
        Ok(slots)
    }
}
