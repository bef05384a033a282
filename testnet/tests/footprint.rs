//! `footprint` at small size, over a real node process (`mutua-testnet
//! node`): loaded through its API, saved, restarted, queried, written to;
//! then the same from the saved directory. Behaviour only: the memory
//! figures depend on the machine and are not checked against anything.

use std::time::Duration;

use mutua_testnet::footprint::{self, Footprint, FootprintOptions};

fn options(
    prepared: Option<std::path::PathBuf>,
    save: Option<std::path::PathBuf>,
) -> FootprintOptions {
    FootprintOptions {
        bin: env!("CARGO_BIN_EXE_mutua-testnet").into(),
        records: 200,
        prepared,
        save,
        queries: 25,
        applies: 20,
        settle: Duration::ZERO,
        seed: 3,
        memory_limit_mib: None,
    }
}

fn measured(f: &Footprint) {
    println!("{}", f.summary());
    for (point, m) in [
        ("opened", f.opened),
        ("after the queries", f.after_queries),
        ("after the applies", f.after_applies),
        ("settled", f.after_applies_settled),
    ] {
        assert!(m.rss_kib > 0 && m.anon_kib > 0, "{point}: {m:?}");
        assert!(m.anon_kib + m.file_kib <= m.rss_kib + 8, "{point}: {m:?}");
        // smaps is read after status, whose counters are approximate: the
        // binary's pages may exceed RssFile by a few.
        assert!(m.binary_kib > 0 && m.other_files_kib > 0, "{point}: {m:?}");
    }
    assert_eq!(f.queries, 25);
    assert!(f.query_hits > 0, "the restarted node finds listings");
    assert!(f.query_p50_ms <= f.query_p99_ms);
    assert_eq!(f.applies, 20);
    assert!(f.store_dir_bytes > 0);
}

#[test]
fn a_restarted_node_is_measured_at_three_points_and_counts_its_listings() {
    let saved = tempfile::tempdir().unwrap();
    let saved = saved.path().join("data");
    let loaded = footprint::run(&options(None, Some(saved.clone()))).expect("footprint runs");
    measured(&loaded);
    assert!(loaded.load_rows_per_sec.is_some());
    assert_eq!(loaded.records, 200 + 20);

    // The saved directory holds the 200 loaded listings, not the applies.
    let again = footprint::run(&options(Some(saved.clone()), None)).expect("footprint runs");
    measured(&again);
    assert!(again.load_rows_per_sec.is_none());
    assert_eq!(again.records, 200 + 20);
    assert!(
        saved.join("store").is_dir(),
        "the prepared directory is kept"
    );
}

/// Whether this machine lets the test create a memory cgroup (root, cgroup
/// v1's memory hierarchy or v2 with the controller delegated); why not.
fn memory_boxes() -> Result<(), String> {
    let name = format!("mutua-footprint-probe-{}", std::process::id());
    mutua_testnet::memory_box::MemoryBox::create(&name, 512)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn a_node_in_a_memory_box_is_charged_for_its_memory() {
    if let Err(why) = memory_boxes() {
        eprintln!("skipped: no memory cgroup can be created here: {why}");
        return;
    }
    let saved = tempfile::tempdir().unwrap();
    let saved = saved.path().join("data");
    footprint::run(&options(None, Some(saved.clone()))).expect("footprint runs");

    let mut boxed = options(Some(saved.clone()), None);
    boxed.memory_limit_mib = Some(1024);
    let f = footprint::run(&boxed).expect("the node runs in 1 GiB");
    measured(&f);
    let usage = f.memory_box.expect("the box's figures");
    assert_eq!(usage.limit_mib, 1024);
    assert_eq!(usage.oom_kills, 0);
    // The node's own memory was charged to the box (its binary's pages
    // too, unless another process maps them: the other test's nodes).
    assert!(
        usage.peak_kib >= f.after_queries.anon_kib,
        "{usage:?} {:?}",
        f.after_queries
    );
    assert!(usage.peak_kib <= 1024 * 1024, "{usage:?}");
}
