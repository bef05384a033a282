//! `mutua-testnet footprint`: the whole node's memory as a town hall's node
//! uses it (issue 16). One real node process holding `records` listings
//! (published one per call through its API, as `mutua import` does, or a
//! copy of a prepared data directory), stopped cleanly, started again, then
//! measured at three points: opened (its first query answered), after
//! `queries` queries (five shapes in turn) and after `applies` new listings
//! published one per call (right after, and `settle` later, once the node's
//! trimmer has run). At each point RSS, RssAnon and RssFile from
//! `/proc/<pid>/status`, and the file-backed part split into the node's own
//! binary and the rest (mostly the search index's mapped segments). With
//! `memory_limit_mib` the restarted node runs in a memory cgroup of that
//! size (`memory_box` module): whether the node fits the box, page cache
//! included, rather than what it holds on an idle machine.
//!
//! Everything is drawn from the seed, so one seed names one data set.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mutua_api::{ListingContent, RecordsQuery};
use mutua_protocol::{Contact, Location, Pricing, ServiceArea, Terms};
use mutua_store::refdata;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::federation::{Testnet, TestnetOptions};
use crate::memory_box::{evict_page_cache, BoxUsage, MemoryBox};
use crate::node::{Launch, NodeProcess};
use crate::records::TEMPLATES;
use crate::{wait, Error, NetMode};

/// What to measure.
#[derive(Clone, Debug)]
pub struct FootprintOptions {
    /// The node binary, run as `<bin> node …`: `mutua` (what operators run)
    /// or `mutua-testnet`.
    pub bin: PathBuf,
    /// Listings the node holds (ignored with `prepared`).
    pub records: usize,
    /// A data directory holding the listings already: copied, never changed.
    pub prepared: Option<PathBuf>,
    /// Where to save the loaded data directory, stopped (for `prepared`).
    pub save: Option<PathBuf>,
    pub queries: usize,
    pub applies: usize,
    /// How long after the applies the last point is taken.
    pub settle: Duration,
    pub seed: u64,
    /// Run the node in a memory cgroup of this many MiB, page cache
    /// included (`memory_box` module).
    pub memory_limit_mib: Option<u64>,
}

/// Resident memory at one point, in KiB.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
    /// The file-backed pages of the node's binary.
    pub binary_kib: u64,
    /// The file-backed pages of every other file (the search index's
    /// segments, shared libraries).
    pub other_files_kib: u64,
}

/// What `footprint` measured.
#[derive(Clone, Debug, Serialize)]
pub struct Footprint {
    pub bin: String,
    pub records: u64,
    /// Publishing the records one per call (none with a prepared directory).
    pub load_rows_per_sec: Option<f64>,
    pub store_dir_bytes: u64,
    pub start_to_first_query_secs: f64,
    pub opened: Memory,
    pub queries: usize,
    pub query_p50_ms: f64,
    pub query_p99_ms: f64,
    /// Listings the queries returned, all pages' first page together.
    pub query_hits: u64,
    pub after_queries: Memory,
    pub applies: usize,
    pub apply_rows_per_sec: f64,
    pub after_applies: Memory,
    pub settle_secs: u64,
    pub after_applies_settled: Memory,
    pub stop_secs: f64,
    /// With `memory_limit_mib`: what its cgroup saw.
    pub memory_box: Option<BoxUsage>,
}

impl Footprint {
    /// `SUMMARY {json}` on one line.
    pub fn summary(&self) -> String {
        format!(
            "SUMMARY {}",
            serde_json::to_string(self).expect("plain figures serialise")
        )
    }
}

/// Words of the descriptions (20–80 of them each, as the lead's import).
const WORDS: &[&str] = &[
    "commune",
    "mairie",
    "intercommunal",
    "syndicat",
    "agent",
    "technique",
    "prêt",
    "journée",
    "semaine",
    "mois",
    "remorque",
    "véhicule",
    "formation",
    "accompagnement",
    "convention",
    "mutualisation",
    "disponible",
    "entretien",
    "service",
    "matériel",
    "voirie",
    "école",
    "bâtiment",
    "espaces",
    "verts",
    "numérique",
    "logiciel",
    "données",
    "réseau",
    "salle",
    "association",
    "marché",
    "public",
    "chantier",
    "outillage",
    "équipe",
    "planning",
    "réservation",
];
/// Texts searched (one shape of query in five, and a part of another).
const TEXTS: &[&str] = &[
    "broyeur",
    "nacelle",
    "podium",
    "salle",
    "tondeuse",
    "nextcloud",
    "technicien sig",
    "protection données",
    "barrières",
    "remorque",
];

/// Listing `serial` of a data set: a template, a long description and a
/// random commune, all from `rng`.
pub fn listing(rng: &mut StdRng, serial: usize) -> ListingContent {
    let t = &TEMPLATES[rng.gen_range(0..TEMPLATES.len())];
    let words = rng.gen_range(20..=80);
    let description = std::iter::once(t.description.to_owned())
        .chain((0..words).map(|_| WORDS[rng.gen_range(0..WORDS.len())].to_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let (insee, departement) = located_commune(rng);
    ListingContent {
        side: t.side,
        kind: t.kind,
        title: format!("{} n°{serial}", t.title),
        description,
        tags: t.tags.iter().map(|tag| tag.to_string()).collect(),
        location: Location { insee, point: None },
        area: ServiceArea {
            departements: vec![departement],
            radius_km: Some(30),
            ..ServiceArea::default()
        },
        capacity: None,
        availability: Vec::new(),
        terms: Terms {
            pricing: Pricing::Free,
            convention_required: false,
        },
        contact: Contact {
            role: "Services techniques".into(),
            email: Some(format!("mutualisation{}@commune.example", serial % 97)),
            phone: None,
            url: None,
        },
        expires_at: None,
    }
}

/// A commune that has a position and a département, and its département.
fn located_commune(rng: &mut StdRng) -> (String, String) {
    let reference = refdata::reference();
    loop {
        let insee = reference.commune_at(rng.gen_range(0..reference.commune_count()));
        if reference.position_of(&insee).is_none() {
            continue;
        }
        if let Some(d) = reference.departement_of(&insee) {
            return (insee, d);
        }
    }
}

/// Query `i` of the run: text, near a commune, text near a commune sorted
/// by distance, département + kind + side, tag sorted by recency.
pub fn query(rng: &mut StdRng, i: usize) -> RecordsQuery {
    let text = || Some(TEXTS[i / 5 % TEXTS.len()].to_owned());
    let mut q = RecordsQuery::default();
    match i % 5 {
        0 => q.text = text(),
        1 => {
            q.near = Some(located_commune(rng).0);
            q.radius_km = Some(30.0);
        }
        2 => {
            q.text = text();
            q.near = Some(located_commune(rng).0);
            q.radius_km = Some(50.0);
            q.sort = Some("distance".into());
        }
        3 => {
            q.departement = Some("33".into());
            q.kind = Some("equipment".into());
            q.side = Some("offer".into());
        }
        _ => {
            q.tag = Some("espaces verts".into());
            q.sort = Some("recency".into());
        }
    }
    q
}

/// Runs the measurement (see the module docs).
pub fn run(options: &FootprintOptions) -> Result<Footprint, Error> {
    let work = tempfile::Builder::new()
        .prefix("mutua-footprint-")
        .tempdir()
        .map_err(Error::io("cannot create a temporary directory"))?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    // Kept alive until the end: it owns the generated data directory.
    let mut testnet = None;
    let (data_dir, load_rows_per_sec) = match &options.prepared {
        Some(dir) => {
            let copy = work.path().join("data");
            copy_dir(dir, &copy)?;
            (copy, None)
        }
        None => {
            let mut t = TestnetOptions::new(&options.bin, 1, options.seed);
            t.net = NetMode::Loopback;
            let mut net = Testnet::start(&t)?;
            let publisher = net.member(0).identity.publisher.clone();
            let started = Instant::now();
            for serial in 0..options.records {
                net.api(0)?
                    .publish(&publisher, &listing(&mut rng, serial))?;
            }
            let rate = options.records as f64 / started.elapsed().as_secs_f64();
            net.stop(0)?;
            let dir = net.member(0).data_dir().to_owned();
            testnet = Some(net);
            (dir, Some(rate))
        }
    };
    if let Some(save) = &options.save {
        copy_dir(&data_dir, save)?;
    }
    let binary = fs::canonicalize(&options.bin)
        .map_err(Error::io(format!("cannot find {}", options.bin.display())))?;
    let memory_box = match options.memory_limit_mib {
        Some(mib) => {
            let name = format!("mutua-footprint-{}", std::process::id());
            let memory_box = MemoryBox::create(&name, mib)?;
            evict_page_cache(&[&binary, &data_dir])?;
            Some(memory_box)
        }
        None => None,
    };
    let launch = Launch {
        bin: options.bin.clone(),
        index: 0,
        data_dir: data_dir.clone(),
        netns: None,
        listen: "/ip4/127.0.0.1/tcp/0".into(),
        api_listen: "127.0.0.1:0".into(),
        bootstrap: Vec::new(),
        log: work.path().join("node.log"),
        clock_offset_secs: 0,
        web: false,
        cgroup: memory_box.as_ref().map(|b| b.dir().to_owned()),
    };
    let measured = measure(options, &launch, &binary, &mut rng);
    let usage = memory_box.as_ref().map(MemoryBox::usage).transpose()?;
    let mut footprint = match (measured, &usage) {
        (Ok(footprint), _) => footprint,
        (Err(e), Some(usage)) => {
            return Err(Error::Check(format!(
                "the node did not run in a box of {} MiB: {e} (box: peak {} KiB, \
                 {} OOM kills, {} major faults)",
                usage.limit_mib, usage.peak_kib, usage.oom_kills, usage.major_faults
            )))
        }
        (Err(e), None) => return Err(e),
    };
    footprint.load_rows_per_sec = load_rows_per_sec;
    footprint.memory_box = usage;
    // Before the testnet goes: it owns a generated data directory.
    footprint.store_dir_bytes = dir_bytes(&data_dir.join("store"));
    drop(testnet);
    Ok(footprint)
}

/// Starts the node of `launch` and measures it (see the module docs).
fn measure(
    options: &FootprintOptions,
    launch: &Launch,
    binary: &Path,
    rng: &mut StdRng,
) -> Result<Footprint, Error> {
    let started = Instant::now();
    let mut node = NodeProcess::start(launch)?;
    let first = RecordsQuery {
        text: Some("broyeur".into()),
        limit: Some(1),
        ..RecordsQuery::default()
    };
    wait::until(
        "the first query",
        wait::scaled(Duration::from_secs(60)),
        || {
            node.check_alive()?;
            Ok(node.api.search(&first).ok())
        },
    )?;
    let start_to_first_query_secs = started.elapsed().as_secs_f64();
    let opened = memory(node.pid(), binary)?;

    let mut latencies = Vec::with_capacity(options.queries);
    let mut query_hits = 0;
    for i in 0..options.queries {
        let q = query(rng, i);
        let t = Instant::now();
        query_hits += node.api.search(&q)?.items.len() as u64;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let after_queries = memory(node.pid(), binary)?;

    let status = node.api.status()?;
    let publisher = status
        .publishers
        .first()
        .map(|p| p.name.clone())
        .ok_or_else(|| Error::Check("the node hosts no publisher".into()))?;
    let t = Instant::now();
    for serial in 0..options.applies {
        let content = listing(rng, 1_000_000_000 + serial);
        node.api.publish(&publisher, &content)?;
    }
    let apply_rows_per_sec = options.applies as f64 / t.elapsed().as_secs_f64();
    let after_applies = memory(node.pid(), binary)?;
    std::thread::sleep(options.settle);
    node.check_alive()?;
    let after_applies_settled = memory(node.pid(), binary)?;
    let records = node.api.status()?.store;
    let t = Instant::now();
    node.stop()?;
    let stop_secs = t.elapsed().as_secs_f64();
    Ok(Footprint {
        bin: binary.display().to_string(),
        records: records.offers + records.needs,
        load_rows_per_sec: None,
        store_dir_bytes: 0,
        start_to_first_query_secs,
        opened,
        queries: options.queries,
        query_p50_ms: percentile(&latencies, 0.50),
        query_p99_ms: percentile(&latencies, 0.99),
        query_hits,
        after_queries,
        applies: options.applies,
        apply_rows_per_sec,
        after_applies,
        settle_secs: options.settle.as_secs(),
        after_applies_settled,
        stop_secs,
        memory_box: None,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Process `pid`'s resident memory now.
pub fn memory(pid: u32, binary: &Path) -> Result<Memory, Error> {
    let read = |file: &str| {
        fs::read_to_string(format!("/proc/{pid}/{file}"))
            .map_err(Error::io(format!("cannot read /proc/{pid}/{file}")))
    };
    let status = read("status")?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let (binary_kib, other_files_kib) = file_pages(&read("smaps")?, binary);
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
        binary_kib,
        other_files_kib,
    })
}

/// Resident KiB of `binary`'s mappings and of every other file's, from
/// the text of `/proc/<pid>/smaps`.
fn file_pages(smaps: &str, binary: &Path) -> (u64, u64) {
    let binary = binary.to_string_lossy();
    let (mut own, mut other) = (0, 0);
    let mut file: Option<bool> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range perms offset dev inode [path].
            let path = fields.nth(4);
            file = path
                .filter(|p| p.starts_with('/'))
                .map(|p| p == binary.as_ref());
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match file {
                Some(true) => own += kib,
                Some(false) => other += kib,
                None => {}
            }
        }
    }
    (own, other)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(Error::io(format!("cannot create {}", to.display())))?;
    // The node refuses a keys directory others may read: keep the modes.
    let mode = fs::metadata(from).map_err(Error::io(format!("cannot read {}", from.display())))?;
    fs::set_permissions(to, mode.permissions()).map_err(Error::io(format!(
        "cannot set the mode of {}",
        to.display()
    )))?;
    let entries =
        fs::read_dir(from).map_err(Error::io(format!("cannot read {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("cannot read {}", from.display())))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "api.addr" {
            continue;
        }
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(Error::io(format!("cannot copy {}", src.display())))?;
        }
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_and_other_files_are_told_apart() {
        let smaps = "\
5629d3a2e000-5629d4390000 r--p 00000000 fe:00 1 /opt/mutua
Rss:                4920 kB
5629d4390000-5629d59e4000 r-xp 00961000 fe:00 1 /opt/mutua
Rss:               18168 kB
7f00-7f10 r--s 00000000 fe:00 2 /data/store/search/a.idx
Rss:                 100 kB
7f10-7f20 rw-p 00000000 00:00 0
Rss:                5000 kB
7f20-7f30 rw-p 00000000 00:00 0 [heap]
Rss:                6000 kB
";
        assert_eq!(file_pages(smaps, Path::new("/opt/mutua")), (23088, 100));
    }

    #[test]
    fn a_seed_names_the_data_set() {
        let a = listing(&mut StdRng::seed_from_u64(7), 3);
        let b = listing(&mut StdRng::seed_from_u64(7), 3);
        assert_eq!(a, b);
        let words = a.description.split_whitespace().count();
        assert!(words >= 20, "{words} words");
        let shapes: Vec<RecordsQuery> = (0..5)
            .map(|i| query(&mut StdRng::seed_from_u64(7), i))
            .collect();
        assert!(shapes[0].text.is_some() && shapes[0].near.is_none());
        assert!(shapes[1].near.is_some() && shapes[1].text.is_none());
        assert_eq!(shapes[2].sort.as_deref(), Some("distance"));
        assert_eq!(shapes[3].departement.as_deref(), Some("33"));
        assert_eq!(shapes[4].tag.as_deref(), Some("espaces verts"));
    }
}
