//! The store's benchmark: ingest rate against raw `verify_strict`, query
//! latency (answered by the tantivy index) against a naive full scan, disk
//! and memory use, the store's own footprint measured in a fresh process.
//! Ends with one `SUMMARY {json}` line.
//!
//! cargo run --release -p mutua-store --example bench            # 100k listings
//! MUTUA_BENCH_RECORDS=1000000 cargo run --release -p mutua-store --example bench
//! MUTUA_BENCH_BATCH=1 …     # one record per call, as publishing and gossip write (`mode: "single"`)
//! bench --queries <store dir> <cache MiB>   # the typical queries alone, on a kept store (`MUTUA_BENCH_DIR`)

use std::time::{Duration, Instant};

use mutua_protocol::codec::{decode_envelope, decode_payload, verify};
use mutua_protocol::fixtures::FIXTURE_NOW;
use mutua_protocol::{GeoPoint, Payload, ResourceKind};
use mutua_store::synth::{self, Rng};
use mutua_store::{refdata, text, Area, Center, Near, Query, Side, Sort, Store};

const MEMBERS: u64 = 2000;

/// A `/proc/self/status` figure in KiB (`VmRSS:` now, `VmHWM:` the peak).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// This thread's time on a core and waiting for one (`/proc/thread-self/schedstat`).
fn thread_schedstat() -> (Duration, Duration) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut figures = text
        .split_whitespace()
        .map(|f| Duration::from_nanos(f.parse().unwrap_or(0)));
    (
        figures.next().unwrap_or_default(),
        figures.next().unwrap_or_default(),
    )
}

/// glibc's `struct mallinfo2` (the fields of `man mallinfo2`, in order).
#[repr(C)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn mallinfo2() -> MallInfo2;
    fn malloc_trim(pad: usize) -> i32;
}

/// Bytes the allocator has handed out (arenas and mmapped blocks), and
/// bytes free in its arenas, kept from the system.
fn malloc_figures() -> (usize, usize) {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { mallinfo2() };
    (info.uordblks + info.hblkhd, info.fordblks)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// RSS and RssAnon, in MiB, for the report.
fn rss_pair() -> (u64, u64) {
    (rss_kib() / 1024, status_kib("RssAnon:") / 1024)
}

/// One figure for the parent's summary: `CHILD <mode> <name> <value>`.
fn report(mode: &str, name: &str, value: f64) {
    println!("CHILD {mode} {name} {value}");
}

/// The store's configuration, with sled's settings from the environment
/// (`MUTUA_BENCH_SLED_MODE=high_throughput`, `MUTUA_BENCH_SEGMENT_KIB`,
/// `MUTUA_BENCH_SLED_COMPRESSION=off|<level>`) and the store's envelope
/// compression (`MUTUA_BENCH_STORE_COMPRESSION=on|off`),
/// the same in the footprint child (sled refuses another segment size).
fn bench_config(path: impl Into<std::path::PathBuf>, cache_mb: u64) -> mutua_store::StoreConfig {
    let mut config = synth::store_config(path);
    config.cache_capacity_bytes = cache_mb * 1024 * 1024;
    config.sled.high_throughput =
        std::env::var("MUTUA_BENCH_SLED_MODE").is_ok_and(|m| m == "high_throughput");
    config.sled.segment_size = std::env::var("MUTUA_BENCH_SEGMENT_KIB")
        .ok()
        .map(|k| k.parse::<usize>().expect("MUTUA_BENCH_SEGMENT_KIB") * 1024);
    if let Ok(level) = std::env::var("MUTUA_BENCH_SLED_COMPRESSION") {
        config.sled.compression = match level.as_str() {
            "off" => None,
            level => Some(level.parse().expect("MUTUA_BENCH_SLED_COMPRESSION")),
        };
    }
    // The store's own compression of its envelopes (`on` by default).
    if let Ok(v) = std::env::var("MUTUA_BENCH_STORE_COMPRESSION") {
        config.compress_envelopes = match v.as_str() {
            "on" => true,
            "off" => false,
            v => panic!("MUTUA_BENCH_STORE_COMPRESSION={v}: on or off"),
        };
    }
    config
}

/// Whether sled's persisted settings differ from what `compact` opens with.
fn config_persisted_settings_set() -> bool {
    std::env::var_os("MUTUA_BENCH_SEGMENT_KIB").is_some()
        || std::env::var_os("MUTUA_BENCH_SLED_COMPRESSION").is_some()
}

/// sled writes by key prefix since the store was opened.
fn print_sled_writes(store: &Store, records: u64, when: &str) {
    let writes = store.sled_writes().expect("writes");
    let total: u64 = writes.iter().map(|(_, n)| n).sum();
    let detail: Vec<String> = writes
        .iter()
        .map(|(p, n)| {
            format!(
                "{} {n} ({:.2}/record)",
                *p as char,
                *n as f64 / records as f64
            )
        })
        .collect();
    println!(
        "sled keys written {when}: {total} ({:.2} per record): {}",
        total as f64 / records as f64,
        detail.join(", ")
    );
}

fn run_query(store: &Store, q: &Query) -> usize {
    store.query(q, FIXTURE_NOW).expect("query").hits.len()
}

/// The store's own footprint, free of the benchmark's data and of the
/// allocator's memory left over from the load: a fresh process that opens
/// the store, answers a first query, runs 1000 typical queries and applies
/// 500 new listings.
///
/// With `MUTUA_BENCH_TRIM=1` it calls `malloc_trim(0)` at each of the three
/// points, as the node's trimmer does after a burst, and reports the figures
/// after it (both are printed). `MALLOC_ARENA_MAX` (glibc's) caps the arenas
/// as the node does at its start.
fn footprint_child(path: &str, cache_mb: u64) {
    let mode = "store";
    let trim = std::env::var("MUTUA_BENCH_TRIM").is_ok_and(|v| v == "1");
    let mut trims = Vec::new();
    // RSS and RssAnon now, and after malloc_trim if asked.
    let mut measure = |when: &str| {
        let before = rss_pair();
        if !trim {
            return before;
        }
        let (in_use, free) = malloc_figures();
        // SAFETY: glibc's malloc_trim only returns free heap pages to the system.
        unsafe { malloc_trim(0) };
        let after = rss_pair();
        trims.push(format!(
            "{when}: {}/{} → {}/{} MiB (malloc {} MiB in use, {} MiB free)",
            before.0,
            before.1,
            after.0,
            after.1,
            in_use / 1048576,
            free / 1048576
        ));
        after
    };
    let before = rss_kib();
    let config = bench_config(path, cache_mb);
    let t = Instant::now();
    let store = Store::open(config).expect("open");
    let open_time = t.elapsed();
    let opened = measure("opened");
    let mut rng = Rng::new(7);
    run_query(&store, &typical_query(0, &mut rng));
    let cold_start = t.elapsed();
    for i in 0..1000 {
        run_query(&store, &typical_query(i, &mut rng));
    }
    let queried = measure("queries");
    let base: u64 = 1 << 41;
    let batch = (0..500)
        .map(|i| {
            let author = synth::key("member", i % MEMBERS);
            synth::sealed_listing(&author, base | i, 1, FIXTURE_NOW, &mut rng)
        })
        .collect();
    store.apply_batch(batch, FIXTURE_NOW).expect("apply");
    let applied = measure("applies");
    if trim {
        println!(
            "malloc_trim(0), RSS/RssAnon before → after: {}",
            trims.join("; ")
        );
    }
    println!(
        "store footprint (fresh process): RSS {} MiB before opening; RSS/RssAnon {}/{} MiB opened, {}/{} MiB after 1000 queries, {}/{} MiB after 500 applies (peak {} MiB); open {:?}, open → first query answered {:?}",
        before / 1024,
        opened.0,
        opened.1,
        queried.0,
        queried.1,
        applied.0,
        applied.1,
        status_kib("VmHWM:") / 1024,
        open_time,
        cold_start,
    );
    for (name, value) in [
        ("rss_mib_open", opened.0),
        ("anon_mib_open", opened.1),
        ("rss_mib_queries", queried.0),
        ("anon_mib_queries", queried.1),
        ("rss_mib_applies", applied.0),
        ("anon_mib_applies", applied.1),
    ] {
        report(mode, name, value as f64);
    }
    report(mode, "cold_start_s", cold_start.as_secs_f64());
    // sled cleans its log in its flusher thread, at most half of each
    // 500 ms period, one page at a time: an idle store shrinks over time.
    let idle_secs = synth::env_u64("MUTUA_BENCH_IDLE_SECS", 30);
    if idle_secs > 0 {
        std::thread::sleep(Duration::from_secs(idle_secs));
        println!(
            "disk after {idle_secs} s idle: {:.1} MiB",
            store.stats().expect("stats").disk_bytes as f64 / 1048576.0
        );
    }
    drop(store);
    live_bytes(path, cache_mb);
    if config_persisted_settings_set() {
        // `compact` opens sled with the store's own settings.
        return;
    }
    let t = Instant::now();
    let report = mutua_store::compact(std::path::Path::new(path)).expect("compact");
    println!(
        "compact: {:.1} MiB -> {:.1} MiB ({} entries, {:?})",
        report.bytes_before as f64 / 1048576.0,
        report.bytes_after as f64 / 1048576.0,
        report.entries,
        t.elapsed()
    );
    // `compact` moves the search index with the records: no rebuild.
    let t = Instant::now();
    let store = Store::open(bench_config(path, cache_mb)).expect("reopen");
    let search = store.search_index_stats();
    println!(
        "open after compact: {:?} (search index: {} listings, {:.1} MiB)",
        t.elapsed(),
        search.listings,
        search.disk_bytes as f64 / 1048576.0
    );
}

/// Opens the store at `path`, answers one query and closes it (with the
/// store's own close, as the node does): the cold start alone, for copies of
/// one store measured side by side.
fn cold_start_only(path: &str, cache_mb: u64) {
    let t = Instant::now();
    let store = Store::open(bench_config(path, cache_mb)).expect("open");
    let opened = t.elapsed();
    run_query(&store, &typical_query(0, &mut Rng::new(7)));
    let answered = t.elapsed();
    let (rss, anon) = rss_pair();
    let t = Instant::now();
    store.close().expect("close");
    println!(
        "cold start: open {opened:?}, open → first query answered {answered:?}; RSS/RssAnon {rss}/{anon} MiB; close {:?}",
        t.elapsed()
    );
}

/// What sled holds live, by key prefix, against its files: the part of
/// the disk figure that is the store's data rather than sled's log.
fn live_bytes(path: &str, cache_mb: u64) {
    let settings = bench_config(path, cache_mb).sled;
    let mut config = sled::Config::new().path(path);
    if let Some(size) = settings.segment_size {
        config = config.segment_size(size);
    }
    if settings.compression.is_some() {
        config = config.use_compression(true);
    }
    let db = config.open().expect("sled");
    let tree = db.open_tree("mutua").expect("tree");
    let mut by_prefix = std::collections::BTreeMap::<char, (u64, u64)>::new();
    for entry in tree.iter() {
        let (k, v) = entry.expect("entry");
        let e = by_prefix.entry(k[0] as char).or_default();
        e.0 += 1;
        e.1 += (k.len() + v.len()) as u64;
    }
    let keys: u64 = by_prefix.values().map(|e| e.0).sum();
    let bytes: u64 = by_prefix.values().map(|e| e.1).sum();
    let disk = db.size_on_disk().expect("size");
    println!(
        "live data: {keys} keys, {:.1} MiB of keys and values; sled's files {:.1} MiB ({:.2}× the live data)",
        bytes as f64 / 1048576.0,
        disk as f64 / 1048576.0,
        disk as f64 / bytes as f64
    );
    let detail: Vec<String> = by_prefix
        .iter()
        .map(|(p, (n, b))| format!("{p} {n} keys {:.1} MiB", *b as f64 / 1048576.0))
        .collect();
    println!("  by prefix: {}", detail.join(", "));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What `typical_query` asks, by `i % 5`.
const QUERY_SHAPES: [&str; 5] = [
    "offers with a word",
    "equipment in a département",
    "equipment within 30 km, nearest first",
    "a tag in an EPCI",
    "a word, available in 10 days",
];

/// Typical combined queries with random parameters.
fn typical_query(i: usize, rng: &mut Rng) -> Query {
    let r = refdata::reference();
    let insee = r.commune_at(rng.below(r.commune_count() as u64) as usize);
    let point = GeoPoint::from_degrees(
        43.0 + rng.below(700) as f64 / 100.0,
        -1.0 + rng.below(800) as f64 / 100.0,
    );
    let word = *rng.pick(&[
        "broyeur",
        "nacelle",
        "materiel",
        "dpo",
        "logiciel",
        "salle",
        "geomaticien",
    ]);
    match i % 5 {
        0 => Query {
            side: Side::Offers,
            text: Some(word.into()),
            ..Query::default()
        },
        1 => Query {
            kinds: vec![ResourceKind::Equipment],
            area: Some(Area::Departement(
                r.departement_of(&insee).unwrap_or_else(|| "33".into()),
            )),
            ..Query::default()
        },
        2 => Query {
            kinds: vec![ResourceKind::Equipment],
            near: Some(Near {
                center: Center::Point(point),
                radius_km: 30.0,
            }),
            sort: Sort::Distance,
            ..Query::default()
        },
        3 => Query {
            tags: vec![rng
                .pick(&["informatique", "voirie", "rgpd", "fêtes"])
                .to_string()],
            area: r.epci_of(&insee).map(Area::Epci),
            ..Query::default()
        },
        _ => Query {
            text: Some(word.into()),
            available_at: Some(FIXTURE_NOW + 10 * 86_400),
            ..Query::default()
        },
    }
}

/// 1,000 typical queries, timed; prints each shape's p50 and p99 and
/// returns every latency, sorted, and the hits.
fn typical_queries(store: &Store, rng: &mut Rng) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut by_shape: Vec<Vec<Duration>> = vec![Vec::new(); QUERY_SHAPES.len()];
    let mut total_hits = 0;
    for i in 0..1000 {
        let q = typical_query(i, rng);
        let t = Instant::now();
        total_hits += run_query(store, &q);
        latencies.push(t.elapsed());
        by_shape[i % QUERY_SHAPES.len()].push(t.elapsed());
    }
    latencies.sort();
    for (shape, times) in QUERY_SHAPES.iter().zip(&mut by_shape) {
        times.sort();
        println!(
            "  {shape}: p50 {:?}, p99 {:?}",
            percentile(times, 0.5),
            percentile(times, 0.99)
        );
    }
    (latencies, total_hits)
}

/// Opens the store at `path` and runs the typical queries twice (the first
/// round warms the caches): for one store queried by two builds in turn.
fn queries_only(path: &str, cache_mb: u64) {
    let store = Store::open(bench_config(path, cache_mb)).expect("open");
    for round in ["warm-up", "measured"] {
        println!("{round} round:");
        let (latencies, hits) = typical_queries(&store, &mut Rng::new(11));
        println!(
            "queries (1000 typical combined, {:.1} hits avg): p50 {:?}, p99 {:?}",
            hits as f64 / 1000.0,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }
}

/// The same query answered by decoding every stored record.
fn naive(store: &Store, q: &Query, now: u64) -> usize {
    let r = refdata::reference();
    let words: Vec<String> = q.text.as_deref().map(text::query_words).unwrap_or_default();
    let tags: Vec<String> = q.tags.iter().map(|t| text::fold_tag(t)).collect();
    let mut hits = 0;
    for envelope in store.envelopes() {
        let envelope = envelope.expect("read");
        let (_, payload, _) = decode_envelope(&envelope).expect("envelope");
        let payload = decode_payload(payload).expect("payload");
        let (side, l) = match &payload {
            Payload::Offer(l) => (Side::Offers, l),
            Payload::Need(l) => (Side::Needs, l),
            _ => continue,
        };
        if l.expires_at <= now || (q.side != Side::Both && q.side != side) {
            continue;
        }
        if !q.kinds.is_empty() && !q.kinds.contains(&l.kind) {
            continue;
        }
        let listing_words = text::query_words(&format!(
            "{} {} {}",
            l.title,
            l.tags.join(" "),
            l.description
        ));
        if !words.iter().all(|w| listing_words.contains(w)) {
            continue;
        }
        let listing_tags: Vec<String> = l.tags.iter().map(|t| text::fold_tag(t)).collect();
        if !tags.iter().all(|t| listing_tags.contains(t)) {
            continue;
        }
        let area_ok = match &q.area {
            None => true,
            Some(Area::Commune(c)) => &l.location.insee == c || l.area.communes.contains(c),
            Some(Area::Epci(e)) => {
                r.epci_of(&l.location.insee).as_ref() == Some(e) || l.area.epcis.contains(e)
            }
            Some(Area::Departement(d)) => {
                r.departement_of(&l.location.insee).as_ref() == Some(d)
                    || l.area.departements.contains(d)
            }
        };
        let near_ok = match (&q.near, &l.location.point) {
            (None, _) => true,
            (
                Some(Near {
                    center: Center::Point(c),
                    radius_km,
                }),
                Some(p),
            ) => c.distance_km(p) <= *radius_km,
            _ => false,
        };
        let available = q.available_at.is_none_or(|t| {
            t < l.expires_at
                && (l.availability.is_empty()
                    || l.availability.iter().any(|w| w.from <= t && t < w.until))
        });
        if area_ok && near_ok && available {
            hits += 1;
        }
    }
    hits
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, path, cache_mb] = &args[..] {
        let cache_mb = cache_mb.parse().expect("cache MiB");
        match flag.as_str() {
            "--footprint" => return footprint_child(path, cache_mb),
            "--cold-start" => return cold_start_only(path, cache_mb),
            "--queries" => return queries_only(path, cache_mb),
            _ => {}
        }
    }
    let records = synth::env_u64("MUTUA_BENCH_RECORDS", 100_000);
    let batch_size = synth::env_u64("MUTUA_BENCH_BATCH", 500) as usize;
    let cache_mb = synth::env_u64("MUTUA_BENCH_CACHE_MB", 16);
    let now = FIXTURE_NOW;
    // `MUTUA_BENCH_DIR`: build the store there and keep it (for
    // `bench --cold-start <dir> <cache MiB>` on copies of the same data).
    let dir = tempfile::tempdir().expect("tempdir");
    let store_path = std::env::var_os("MUTUA_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("store"));
    let config = bench_config(store_path, cache_mb);
    println!(
        "sled settings: {:?}; envelopes compressed by the store: {}",
        config.sled, config.compress_envelopes
    );
    let store = Store::open(config).expect("open");
    let certs = synth::member_certificates(0..MEMBERS, now);
    let mut raw_bytes: u64 = certs.iter().map(|c| c.bytes().len() as u64).sum();
    store.apply_batch(certs, now).expect("certificates");
    let authors: Vec<_> = (0..MEMBERS).map(|i| synth::key("member", i)).collect();
    let mut rng = Rng::new(42);
    let (mut verify_time, mut ingest_time) = (Duration::ZERO, Duration::ZERO);
    let (mut open_time, mut sequential_open_time) = (Duration::ZERO, Duration::ZERO);
    let mut apply_time = Duration::ZERO;
    // Opening the next batch while the current one is applied (its sled
    // flush waits on the disk), as the store's API allows; `0` opens and
    // applies each batch in turn, for the side-by-side figure.
    let pipeline =
        batch_size > 1 && std::env::var("MUTUA_BENCH_PIPELINE").map_or(true, |v| v != "0");
    // The applying thread's time on a core and waiting for one.
    let (mut apply_cpu, mut apply_runnable) = (Duration::ZERO, Duration::ZERO);
    println!("pipeline (open the next batch while applying): {pipeline}");
    let mut id = 0u64;
    let mut opened: Option<Vec<mutua_protocol::SignedRecord>> = None;
    loop {
        let mut envelopes_by_batch = Vec::with_capacity(batch_size);
        for _ in 0..batch_size.min((records - id) as usize) {
            let author = &authors[(id % MEMBERS) as usize];
            envelopes_by_batch
                .push(synth::sealed_listing(author, id, 1, now, &mut rng).into_bytes());
            id += 1;
        }
        raw_bytes += envelopes_by_batch
            .iter()
            .map(|e| e.len() as u64)
            .sum::<u64>();
        let t = Instant::now();
        for e in &envelopes_by_batch {
            let (signer, payload, signature) = decode_envelope(e).expect("envelope");
            verify(&signer, payload, &signature).expect("signature");
        }
        verify_time += t.elapsed();
        // The path before `open_all`, one thread, for the side-by-side ratio.
        let t = Instant::now();
        for e in &envelopes_by_batch {
            mutua_protocol::open(e).expect("valid");
        }
        sequential_open_time += t.elapsed();
        // As the node's ingest does: opened on every core, applied in order
        // (the store checks the time rules).
        let open = || {
            let t = Instant::now();
            let batch: Vec<_> = mutua_store::verify::open_all(&envelopes_by_batch)
                .into_iter()
                .map(|opened| opened.expect("valid"))
                .collect();
            (batch, t.elapsed())
        };
        let apply = |batch: Vec<_>| {
            let t = Instant::now();
            let before = thread_schedstat();
            let applied = store.apply_batch(batch, now).expect("apply");
            let after = thread_schedstat();
            apply_cpu += after.0 - before.0;
            apply_runnable += after.1 - before.1;
            assert!(applied.iter().all(|a| a.outcome.is_stored()));
            t.elapsed()
        };
        let t = Instant::now();
        let previous = opened.take();
        let ((next, opening), applying) = if pipeline {
            std::thread::scope(|s| {
                let opener = s.spawn(open);
                let applying = previous.map(apply).unwrap_or_default();
                (opener.join().expect("opener"), applying)
            })
        } else {
            let applying = previous.map(apply).unwrap_or_default();
            (open(), applying)
        };
        ingest_time += t.elapsed();
        open_time += opening;
        apply_time += applying;
        if envelopes_by_batch.is_empty() {
            break;
        }
        opened = Some(next);
    }
    // The last checkpoint (disk index committed and synced), timed as
    // ingest: the disk figures below then hold every record.
    let t = Instant::now();
    store.checkpoint_search().expect("checkpoint");
    ingest_time += t.elapsed();
    let verify_rate = records as f64 / verify_time.as_secs_f64();
    let ingest_rate = records as f64 / ingest_time.as_secs_f64();
    let search = store.search_index_stats();
    // The search index's share is the time spent publishing to it (after
    // each sled flush).
    let sled_rate = records as f64 / (ingest_time - search.publish_time).as_secs_f64();
    println!("records: {records} listings + {MEMBERS} certificates, batches of {batch_size}");
    println!("raw verify_strict, one thread: {verify_rate:.0}/s; open on {} threads + apply + flush: {ingest_rate:.0}/s; ratio {:.3}", std::thread::available_parallelism().map_or(1, |n| n.get()), ingest_rate / verify_rate);
    let sequential_rate = records as f64 / (sequential_open_time + apply_time).as_secs_f64();
    println!(
        "  of which opening {:.1} s ({:.0}/s; one thread {:.0}/s), applying and flushing {:.1} s (overlapped if pipelined); with one-thread opening, not overlapped, {sequential_rate:.0}/s, ratio {:.3}",
        open_time.as_secs_f64(),
        records as f64 / open_time.as_secs_f64(),
        records as f64 / sequential_open_time.as_secs_f64(),
        apply_time.as_secs_f64(),
        sequential_rate / verify_rate
    );
    println!(
        "  applying: {:.1} s on a core, {:.1} s waiting for one, {:.1} s blocked (sled's flush on the disk, locks)",
        apply_cpu.as_secs_f64(),
        apply_runnable.as_secs_f64(),
        apply_time.saturating_sub(apply_cpu + apply_runnable).as_secs_f64()
    );
    println!(
        "  of which the search index (documents + commit): {:.1} s of {:.1} s; sled alone {sled_rate:.0}/s, ratio {:.3}; checkpoints {:.1} s (by writes or the background thread)",
        search.publish_time.as_secs_f64(),
        ingest_time.as_secs_f64(),
        sled_rate / verify_rate,
        search.checkpoint_time.as_secs_f64(),
    );
    let stats = store.stats().expect("stats");
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "disk after load: sled {:.1} MiB, search index {:.1} MiB ({} listings), for {:.1} MiB of envelopes; ratios sled {:.2}, search index {:.3}, both {:.2}",
        mib(stats.disk_bytes),
        mib(search.disk_bytes),
        search.listings,
        mib(raw_bytes),
        stats.disk_bytes as f64 / raw_bytes as f64,
        search.disk_bytes as f64 / raw_bytes as f64,
        (stats.disk_bytes + search.disk_bytes) as f64 / raw_bytes as f64,
    );
    let disk_ratio_load = (stats.disk_bytes + search.disk_bytes) as f64 / raw_bytes as f64;
    print_sled_writes(&store, records, "by the load");
    println!(
        "RSS after load: {} MiB (RssAnon {} MiB; sled cache capacity {cache_mb} MiB)",
        rss_kib() / 1024,
        status_kib("RssAnon:") / 1024
    );
    let (in_use, free) = malloc_figures();
    // SAFETY: glibc's malloc_trim only returns free heap pages to the system.
    unsafe { malloc_trim(0) };
    println!(
        "  malloc: {} MiB in use, {} MiB free in its arenas; RSS after malloc_trim {} MiB (RssAnon {} MiB)",
        in_use / 1048576,
        free / 1048576,
        rss_kib() / 1024,
        status_kib("RssAnon:") / 1024
    );

    let (latencies, total_hits) = typical_queries(&store, &mut rng);
    let mut naive_times = Vec::new();
    for i in 0..5 {
        let q = typical_query(i, &mut rng);
        let t = Instant::now();
        let n = naive(&store, &q, now);
        naive_times.push(t.elapsed());
        let _ = n;
    }
    naive_times.sort();
    let p50 = percentile(&latencies, 0.5);
    let p99 = percentile(&latencies, 0.99);
    let naive_p50 = percentile(&naive_times, 0.5);
    println!(
        "queries (1000 typical combined, {:.1} hits avg): p50 {:?}, p99 {:?}; naive full scan p50 {:?}; scan/index p50 ratio {:.0}",
        total_hits as f64 / 1000.0,
        p50,
        p99,
        naive_p50,
        naive_p50.as_secs_f64() / p50.as_secs_f64()
    );

    // 20% churn: new versions of one listing in five.
    let t = Instant::now();
    let mut batch = Vec::with_capacity(batch_size);
    for id in (0..records).step_by(5) {
        let author = &authors[(id % MEMBERS) as usize];
        batch.push(synth::sealed_listing(author, id, 2, now, &mut rng));
        if batch.len() == batch_size {
            store
                .apply_batch(std::mem::take(&mut batch), now)
                .expect("churn");
        }
    }
    store.apply_batch(batch, now).expect("churn");
    store.checkpoint_search().expect("checkpoint");
    let stats = store.stats().expect("stats");
    let search = store.search_index_stats();
    println!(
        "disk after 20% churn: sled {:.1} MiB, search index {:.1} MiB; ratios to live envelopes sled {:.2}, search index {:.3}, both {:.2} (churn took {:?})",
        mib(stats.disk_bytes),
        mib(search.disk_bytes),
        stats.disk_bytes as f64 / raw_bytes as f64,
        search.disk_bytes as f64 / raw_bytes as f64,
        (stats.disk_bytes + search.disk_bytes) as f64 / raw_bytes as f64,
        t.elapsed()
    );
    let disk_ratio_churn = (stats.disk_bytes + search.disk_bytes) as f64 / raw_bytes as f64;
    print_sled_writes(&store, records, "by load and churn");
    println!(
        "RSS at the end: {} MiB (peak {} MiB), this process",
        rss_kib() / 1024,
        status_kib("VmHWM:") / 1024
    );
    let path = store.path().to_owned();
    drop(store);
    if std::env::var_os("MUTUA_BENCH_DIR").is_some() {
        // The store as the load and churn left it, before any reopen wrote
        // sled's snapshot: what a node restarted after a long run opens.
        let closed = path.with_extension("closed");
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&path)
            .arg(&closed)
            .status()
            .expect("cp");
        assert!(copied.success());
        println!(
            "store kept at {} (as closed: {})",
            path.display(),
            closed.display()
        );
    }
    let mut child = std::collections::BTreeMap::new();
    {
        let output = std::process::Command::new(std::env::current_exe().expect("exe"))
            .arg("--footprint")
            .arg(&path)
            .arg(cache_mb.to_string())
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("footprint child");
        assert!(output.status.success());
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            match line
                .strip_prefix("CHILD ")
                .map(|l| l.split(' ').collect::<Vec<_>>())
            {
                Some(parts) if parts.len() == 3 => {
                    let value: f64 = parts[2].parse().expect("a figure");
                    child.insert(format!("{}.{}", parts[0], parts[1]), value);
                }
                _ => println!("{line}"),
            }
        }
    }
    let figure = |mode: &str, name: &str| {
        child
            .get(&format!("{mode}.{name}"))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (search_p50, search_p99) = (p50, p99);
    println!(
        "SUMMARY {{\"mode\":\"{}\",\"index\":\"tantivy\",\"layout\":{},\"records\":{records},\"ingest_ratio\":{:.3},\"ingest_ratio_one_thread_open\":{:.3},\"disk_ratio_load\":{disk_ratio_load:.2},\"disk_ratio_churn\":{disk_ratio_churn:.2},\"rss_mib_open\":{},\"rss_mib_queries\":{},\"rss_mib_applies\":{},\"anon_mib_open\":{},\"anon_mib_queries\":{},\"anon_mib_applies\":{},\"query_p50_ms\":{:.2},\"query_p99_ms\":{:.2},\"cold_start_s\":{:.2}}}",
        if batch_size == 1 { "single" } else { "batch" },
        mutua_store::LAYOUT_VERSION,
        ingest_rate / verify_rate,
        sequential_rate / verify_rate,
        figure("store", "rss_mib_open"),
        figure("store", "rss_mib_queries"),
        figure("store", "rss_mib_applies"),
        figure("store", "anon_mib_open"),
        figure("store", "anon_mib_queries"),
        figure("store", "anon_mib_applies"),
        ms(search_p50),
        ms(search_p99),
        figure("store", "cold_start_s"),
    );
}
