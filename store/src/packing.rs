//! The envelopes the store keeps, compressed by the store itself (layout 9).
//!
//! sled 0.34's own page compression (layout 8) created a zstd context for
//! every page fragment it wrote and every log message it replayed at open
//! (each creation runs `cpuid`, 20–48 µs on a VM), and made the open after
//! a crash decompress the whole log (BENCHMARKS.md). Here sled's pages stay
//! raw, so its replay reads them as they are, and only the large values are
//! compressed: the envelopes, with one compression context for the writer
//! and a small pool of decompression contexts for the readers. A single
//! envelope of 0.5–4 KB compresses poorly alone (0.68 of its size on the
//! benchmark's listings, 0.21 with a dictionary), so the store trains a zstd
//! dictionary from its first records and keeps it in its metadata
//! ([`crate::layout::DICTIONARY_TREE`]), fixed for the store's life.
//! Sync entries, buckets and metadata stay raw.
//!
//! A stored `r` value is either the envelope as received (a CBOR array: its
//! first byte is 0x80–0x9f, never [`PACKED`]) or [`PACKED`] ‖ a zstd frame
//! made with the store's dictionary. Each packed envelope is decompressed
//! and compared before it is written: a value always gives back the signed
//! bytes, and an envelope that would not is stored as received.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

use crate::error::StoreError;
use crate::layout::{self, meta, prefix};

/// The first byte of a packed `r` value (an envelope starts with 0x80–0x9f).
pub const PACKED: u8 = 0x01;
/// The format of the dictionary's metadata value: `DICT_FORMAT ‖ zstd
/// dictionary`.
const DICT_FORMAT: u8 = 1;
/// zstd's level for the envelopes (the fastest; 3 saved < 3 % more,
/// BENCHMARKS.md).
pub const LEVEL: i32 = 1;
/// The dictionary's size (16 KiB did as well as 64 KiB on the benchmark's
/// listings).
pub const DICT_BYTES: usize = 16 * 1024;
/// Stored offers and needs when the store trains its dictionary (by
/// default: `StoreConfig::dictionary_at_listings`).
pub const TRAIN_AT_LISTINGS: u64 = 1_000;
/// The most envelope bytes the training reads.
pub const SAMPLE_BYTES: usize = 4 << 20;
/// Decompression contexts kept for reuse (≈ 93 KiB each).
const POOLED_READERS: usize = 4;

struct Dictionary {
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

/// The store's envelope compression: its dictionary once trained, and the
/// contexts reused across records.
pub struct Packing {
    /// Whether new envelopes are packed (`StoreConfig::compress_envelopes`);
    /// packed ones are read either way.
    enabled: bool,
    dict: OnceLock<Dictionary>,
    /// The listings count at which to train (again, after zstd could not).
    train_at: AtomicU64,
    /// The writer's contexts: compression, and the check that follows it.
    writer: Mutex<(CCtx<'static>, DCtx<'static>)>,
    readers: Mutex<Vec<DCtx<'static>>>,
}

impl Packing {
    /// `train_at`: the stored offers and needs at which the store trains its
    /// dictionary ([`TRAIN_AT_LISTINGS`] but in tests).
    pub fn new(enabled: bool, train_at: u64) -> Packing {
        Packing {
            enabled,
            dict: OnceLock::new(),
            train_at: AtomicU64::new(train_at),
            writer: Mutex::new((zstd_safe::create_cctx(), zstd_safe::create_dctx())),
            readers: Mutex::new(Vec::new()),
        }
    }

    /// Whether the store has its dictionary.
    pub fn has_dictionary(&self) -> bool {
        self.dict.get().is_some()
    }

    /// Whether the store should train its dictionary now.
    pub fn wants_dictionary(&self, listings: u64) -> bool {
        self.enabled && !self.has_dictionary() && listings >= self.train_at.load(Ordering::Relaxed)
    }

    /// Installs the dictionary read from the metadata value `value`.
    pub fn load(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match value.split_first() {
            Some((&DICT_FORMAT, dict)) if !dict.is_empty() => {
                self.install(dict);
                Ok(())
            }
            _ => Err(StoreError::corrupt(key, "unknown dictionary format")),
        }
    }

    fn install(&self, dict: &[u8]) {
        let _ = self.dict.set(Dictionary {
            cdict: zstd_safe::create_cdict(dict, LEVEL),
            ddict: zstd_safe::create_ddict(dict),
        });
    }

    /// Trains a dictionary from `samples` (envelopes) and installs it;
    /// returns the metadata value to store, `None` if zstd could not train
    /// one (too few or too small samples): then not again before the store
    /// holds twice `listings`.
    pub fn train(&self, samples: &[Vec<u8>], listings: u64) -> Option<Vec<u8>> {
        let dict = match zstd::dict::from_samples(samples, DICT_BYTES) {
            Ok(d) if !d.is_empty() => d,
            outcome => {
                tracing::warn!(
                    samples = samples.len(),
                    ?outcome,
                    "no envelope dictionary trained"
                );
                self.train_at
                    .store(listings.max(1).saturating_mul(2), Ordering::Relaxed);
                return None;
            }
        };
        self.install(&dict);
        let mut value = Vec::with_capacity(1 + dict.len());
        value.push(DICT_FORMAT);
        value.extend_from_slice(&dict);
        Some(value)
    }

    /// The value to store for `envelope`: packed if enabled, the dictionary
    /// is there, and it both shrinks and gives the envelope back.
    pub fn pack(&self, envelope: &[u8]) -> Vec<u8> {
        self.try_pack(envelope).unwrap_or_else(|| envelope.to_vec())
    }

    /// [`Self::pack`] of a value, `None` if it stays as it is (already
    /// packed, or not worth packing).
    pub fn repack(&self, value: &[u8]) -> Option<Vec<u8>> {
        match value.first() {
            Some(&PACKED) | None => None,
            Some(_) => self.try_pack(value),
        }
    }

    fn try_pack(&self, envelope: &[u8]) -> Option<Vec<u8>> {
        let dict = self.dict.get().filter(|_| self.enabled)?;
        let mut contexts = self.writer.lock().ok()?;
        let (cctx, dctx) = &mut *contexts;
        let mut frame = Vec::with_capacity(zstd_safe::compress_bound(envelope.len()));
        cctx.compress_using_cdict(&mut frame, envelope, &dict.cdict)
            .ok()?;
        if frame.len() + 1 >= envelope.len() {
            return None;
        }
        let mut back = Vec::with_capacity(envelope.len());
        let same = dctx
            .decompress_using_ddict(&mut back, &frame, &dict.ddict)
            .is_ok_and(|_| back == envelope);
        if !same {
            tracing::error!("zstd did not give an envelope back; stored as received");
            return None;
        }
        let mut value = Vec::with_capacity(1 + frame.len());
        value.push(PACKED);
        value.extend_from_slice(&frame);
        Some(value)
    }

    /// The envelope a stored `r` value holds (`key` names it in errors).
    pub fn unpack<'v>(&self, key: &[u8], value: &'v [u8]) -> Result<Cow<'v, [u8]>, StoreError> {
        let Some((&PACKED, frame)) = value.split_first() else {
            return Ok(Cow::Borrowed(value));
        };
        let dict = self.dict.get().ok_or_else(|| {
            StoreError::corrupt(key, "packed envelope in a store without dictionary")
        })?;
        let size = zstd_safe::get_frame_content_size(frame);
        if size > mutua_protocol::codec::MAX_RECORD_BYTES as u64 {
            return Err(StoreError::corrupt(
                key,
                "packed envelope of unknown or excessive size",
            ));
        }
        let mut dctx = self
            .readers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_else(zstd_safe::create_dctx);
        let mut out = Vec::with_capacity(size as usize);
        let outcome = dctx.decompress_using_ddict(&mut out, frame, &dict.ddict);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < POOLED_READERS {
                pool.push(dctx);
            }
        }
        match outcome {
            Ok(n) if n as u64 == size => Ok(Cow::Owned(out)),
            _ => Err(StoreError::corrupt(
                key,
                "packed envelope does not decompress",
            )),
        }
    }
}

/// The offers and needs the store's counters say it holds.
pub(crate) fn listings_counted(tree: &sled::Tree) -> Result<u64, StoreError> {
    let counts = crate::counts::read(tree)?.counts;
    Ok(counts[2] + counts[3])
}

/// Envelopes rewritten per sled batch of [`pack_stored`].
const REPACK_BATCH: usize = 4096;

/// Trains the store's dictionary from the envelopes it holds (if it has
/// none yet), stores it, then packs every envelope stored raw: once in a
/// store's life, when it reaches [`TRAIN_AT_LISTINGS`] or when open
/// migrates a store of layout 8. The caller holds the writer lock (or is
/// `open`). `meta::REPACKING` is present from the dictionary's batch until
/// the last envelope is packed, so that open resumes an interrupted run;
/// until then a raw envelope is simply read as it is.
pub(crate) fn pack_stored(
    db: &sled::Db,
    tree: &sled::Tree,
    packing: &Packing,
    listings: u64,
) -> Result<(), StoreError> {
    let dictionary = db.open_tree(layout::DICTIONARY_TREE)?;
    let started = std::time::Instant::now();
    if !packing.has_dictionary() {
        let mut samples = Vec::new();
        let mut bytes = 0;
        for entry in tree.scan_prefix([prefix::RECORD]) {
            let (_, v) = entry?;
            if v.first() == Some(&PACKED) {
                continue;
            }
            bytes += v.len();
            samples.push(v.to_vec());
            if bytes >= SAMPLE_BYTES {
                break;
            }
        }
        let Some(value) = packing.train(&samples, listings) else {
            return Ok(());
        };
        // The mark first: a crash before the dictionary is written leaves
        // the mark, and the next open trains again.
        tree.insert(meta::REPACKING, &[1])?;
        dictionary.insert(layout::DICTIONARY_KEY, value)?;
        // On disk before the first envelope that needs it.
        db.flush()?;
        tracing::info!(
            samples = samples.len(),
            bytes,
            "envelope dictionary trained"
        );
    }
    let mut packed = 0u64;
    let mut batch = sled::Batch::default();
    let mut size = 0;
    for entry in tree.scan_prefix([prefix::RECORD]) {
        let (k, v) = entry?;
        if let Some(value) = packing.repack(&v) {
            batch.insert(k, value);
            size += 1;
        }
        if size == REPACK_BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            crate::reclaim_sled_garbage();
            packed += size as u64;
            size = 0;
        }
    }
    packed += size as u64;
    batch.remove(meta::REPACKING);
    tree.apply_batch(batch)?;
    db.flush()?;
    tracing::info!(
        packed,
        secs = started.elapsed().as_secs_f64(),
        "stored envelopes compressed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelopes(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut e = vec![0x84];
                let text = format!(
                    "offre {i} : broyeur de végétaux, tronçonneuse, remorque {}",
                    i % 7
                );
                e.extend(text.as_bytes().iter().cycle().take(300 + i % 200));
                e.extend((i as u64).to_be_bytes());
                e
            })
            .collect()
    }

    #[test]
    fn packed_envelopes_come_back_byte_exact() {
        let packing = Packing::new(true, TRAIN_AT_LISTINGS);
        let samples = envelopes(400);
        assert_eq!(packing.pack(&samples[0]), samples[0], "no dictionary: raw");
        let meta = packing.train(&samples, 400).expect("dictionary");
        let reopened = Packing::new(false, TRAIN_AT_LISTINGS);
        reopened.load(b"mdict", &meta).unwrap();
        for e in envelopes(450).iter().skip(390) {
            let value = packing.pack(e);
            assert_eq!(value[0], PACKED);
            assert!(value.len() < e.len());
            assert_eq!(packing.unpack(b"r", &value).unwrap(), &e[..]);
            assert_eq!(reopened.unpack(b"r", &value).unwrap(), &e[..]);
            assert_eq!(packing.repack(&value), None, "already packed");
            // Disabled: new envelopes stay raw, packed ones are read.
            assert_eq!(reopened.pack(e), *e);
        }
        assert!(Packing::new(true, TRAIN_AT_LISTINGS)
            .unpack(b"r", &packing.pack(&samples[1]))
            .is_err());
        // Too little to train on: not tried again before twice as many.
        let small = Packing::new(true, TRAIN_AT_LISTINGS);
        assert!(small.wants_dictionary(TRAIN_AT_LISTINGS));
        assert_eq!(small.train(&samples[..2], TRAIN_AT_LISTINGS), None);
        assert!(!small.wants_dictionary(TRAIN_AT_LISTINGS + 1));
        assert!(small.wants_dictionary(2 * TRAIN_AT_LISTINGS));
        let mut truncated = packing.pack(&samples[2]);
        truncated.pop();
        assert!(packing.unpack(b"r", &truncated).is_err());
    }
}
