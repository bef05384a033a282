//! `memory::trim` gives glibc's freed memory back. Alone in its own test
//! binary: RssAnon is the whole process's, and other tests running in
//! parallel threads would move it.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use mutua_node::memory::{anon_bytes, trim};

#[test]
fn trim_gives_freed_memory_back() {
    // 128 MiB in blocks below the mmap threshold (glibc keeps them in
    // the arena when freed), pinned by a last block allocated after them;
    // non-zero, so that every page is touched.
    let blocks: Vec<Vec<u8>> = (0..2048)
        .map(|i| vec![(i % 255 + 1) as u8; 64 * 1024])
        .collect();
    let pin = vec![1u8; 64];
    drop(blocks);
    let before = anon_bytes().expect("RssAnon");
    trim();
    let after = anon_bytes().expect("RssAnon");
    assert!(
        after + (32 << 20) < before,
        "trim returned only {} KiB of 128 MiB freed",
        before.saturating_sub(after) / 1024
    );
    drop(pin);
}
