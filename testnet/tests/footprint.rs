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
