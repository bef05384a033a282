//! The record counts per kind and the last search sequence, kept without a
//! metadata write per call.
//!
//! Layouts up to 8 rewrote both (`mcounts`, `msearch_seq`) in every sled
//! batch. Those two values shared a leaf with the search journal, which
//! sled 0.34 copies whole every few writes: one record per call left
//! sled's files 2.2–2.5× the envelopes (BENCHMARKS.md). Since layout 9:
//!
//! - `mcounts` is a *snapshot*: the counts (6 × u64 BE) ‖ the search
//!   sequence `S` they cover (u64 BE). It is written by the sled batches
//!   that delete journal entries (after each search-index checkpoint), by
//!   a batch whose counts change without a journal entry (certificates,
//!   revocations), and by `sweep`, `reindex` and the migration.
//! - Every other batch that changes the counts carries its change in its
//!   journal entry (`j seq` → `0x01 ‖ n ‖ n × (kind, zigzag varint)` ‖
//!   slots), in the same atomic sled batch as its records.
//! - Open reads the counts as the snapshot plus the changes of the journal
//!   entries after `S`, and the search sequence as the highest of `S` and
//!   the journal's keys. That is exact, since a journal entry is deleted
//!   only by a batch that writes a snapshot covering it, and sequences
//!   only grow (so the highest sequence ever written is always one of
//!   them). `check` compares the result with a recount.

use crate::error::StoreError;
use crate::layout::{self, meta, prefix};

pub type Counts = [u64; layout::KIND_COUNTS];

/// First byte of a journal value that carries a counts change (a slot
/// starts with 0x00, so older values read as carrying none).
const DELTA_TAG: u8 = 0x01;

/// The `mcounts` value: `counts` as they stand after search sequence `seq`.
pub fn snapshot(counts: &Counts, seq: u64) -> Vec<u8> {
    counts
        .iter()
        .chain(std::iter::once(&seq))
        .flat_map(|c| c.to_be_bytes())
        .collect()
}

/// What a batch changed in the counts, for its journal entry (empty when
/// nothing).
pub fn delta(before: &Counts, after: &Counts) -> Vec<u8> {
    let changed: Vec<(u8, i64)> = before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| a != b)
        .map(|(i, (b, a))| (i as u8, a.wrapping_sub(*b) as i64))
        .collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let mut out = vec![DELTA_TAG, changed.len() as u8];
    for (kind, d) in changed {
        out.push(kind);
        let mut z = ((d << 1) ^ (d >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// A journal value's counts change (added with wrapping arithmetic) and
/// its slots; `None` when it is malformed.
pub fn parse_journal(v: &[u8]) -> Option<(Counts, &[u8])> {
    let mut change = [0u64; layout::KIND_COUNTS];
    let Some((&DELTA_TAG, rest)) = v.split_first() else {
        return Some((change, v));
    };
    let (&n, mut rest) = rest.split_first()?;
    for _ in 0..n {
        let (&kind, tail) = rest.split_first()?;
        let (mut z, mut shift) = (0u64, 0);
        let mut tail = tail;
        loop {
            let (&byte, t) = tail.split_first()?;
            tail = t;
            if shift > 63 {
                return None;
            }
            z |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
        *change.get_mut(usize::from(kind))? = d as u64;
        rest = tail;
    }
    Some((change, rest))
}

/// The counts and the last search sequence, as sled holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persisted {
    pub counts: Counts,
    pub seq: u64,
    /// The first journal entry's sequence, if any.
    pub journal_from: Option<u64>,
}

/// Reads the counts and the search sequence from the snapshot and the
/// journal (see the module docs). Layouts up to 8 wrote both in every
/// batch: their `mcounts` (no sequence) covers every journal entry, and
/// their `msearch_seq` is the last sequence.
pub fn read(tree: &sled::Tree) -> Result<Persisted, StoreError> {
    let mut out = Persisted::default();
    let snapshot = tree.get(meta::COUNTS)?.unwrap_or_default();
    let values: Vec<u64> = snapshot
        .chunks_exact(8)
        .map(|c| layout::u64_value(c).unwrap_or(0))
        .collect();
    // No snapshot yet: every journal entry's change counts.
    let covered = match values.len() {
        0 => Some(0),
        n if n == layout::KIND_COUNTS + 1 => Some(values[layout::KIND_COUNTS]),
        _ => None,
    };
    for (i, v) in values.iter().take(layout::KIND_COUNTS).enumerate() {
        out.counts[i] = *v;
    }
    out.seq = covered.unwrap_or(0).max(
        tree.get(meta::OBSOLETE_SEARCH_SEQ)?
            .and_then(|v| layout::u64_value(&v))
            .unwrap_or(0),
    );
    for entry in tree.scan_prefix([prefix::JOURNAL]) {
        let (k, v) = entry?;
        let s = layout::u64_value(&k[1..])
            .ok_or_else(|| StoreError::corrupt(&k, "journal key is not a sequence"))?;
        out.journal_from.get_or_insert(s);
        out.seq = out.seq.max(s);
        let (change, _) =
            parse_journal(&v).ok_or_else(|| StoreError::corrupt(&k, "unreadable journal value"))?;
        if covered.is_some_and(|c| s > c) {
            for (c, d) in out.counts.iter_mut().zip(change) {
                *c = c.wrapping_add(d);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_delta_reads_back_with_its_slots() {
        let before = [5, 0, 1_000_000, 7, 0, 3];
        let after = [5, 1, 999_000, 7, 2, 0];
        let mut v = delta(&before, &after);
        assert!(delta(&after, &after).is_empty());
        v.extend([0u8; 49]);
        let (change, slots) = parse_journal(&v).unwrap();
        let mut sum = before;
        for (c, d) in sum.iter_mut().zip(change) {
            *c = c.wrapping_add(d);
        }
        assert_eq!(sum, after);
        assert_eq!(slots, &[0u8; 49][..]);
        // A value of layout 8 (slots only) carries no change.
        assert_eq!(parse_journal(&[0u8; 49]).unwrap().0, [0; 6]);
        assert!(parse_journal(&[DELTA_TAG, 1, 9, 2]).is_none());
    }
}
