//! `mutua store check | reindex | compact`: offline maintenance of the
//! replica.

use anyhow::{bail, Result};
use mutua_node::config::{self, Overrides};
use mutua_node::datadir::DataDir;
use mutua_store::{compact, Store, StoreConfig};
use serde::Serialize;

use super::Context;
use crate::args::StoreCommand;

/// Opens the store of a stopped node (sled allows one process at a time).
fn open(ctx: &Context) -> Result<Store> {
    let dir = DataDir::open(&ctx.data_dir)?;
    if dir.api_endpoint().is_ok() {
        bail!(
            "the node of {} is running: stop it first (Ctrl-C, or `sudo systemctl stop mutua-node`); \
             the store can only be opened by one process",
            ctx.data_dir.display()
        );
    }
    // Anchors matter only to new writes; a broken config must not prevent
    // checking the records.
    let anchors = config::load_settings(&Overrides::default(), &dir.config_path())
        .map(|s| s.anchors)
        .unwrap_or_default();
    Ok(Store::open(StoreConfig::new(dir.store_path(), anchors))?)
}

/// `store check --json`: one line per problem, then the counts.
#[derive(Serialize)]
struct Problem<'a> {
    key: &'a str,
    problem: &'a str,
}

#[derive(Serialize)]
struct Checked {
    records: u64,
    indexed_listings: u64,
    derived_entries: u64,
    problems: u64,
}

#[derive(Serialize)]
struct Compacted {
    entries: u64,
    bytes_before: u64,
    bytes_after: u64,
}

#[derive(Serialize)]
struct Reindexed {
    records: u64,
    indexed_listings: u64,
    quarantined: u64,
}

pub fn run(ctx: &Context, command: StoreCommand) -> Result<()> {
    let store = open(ctx)?;
    match command {
        StoreCommand::Check => {
            let report = store.check()?;
            if ctx.out.json {
                for p in &report.problems {
                    ctx.out.json_sorted(&Problem {
                        key: &p.key,
                        problem: &p.what,
                    })?;
                }
                ctx.out.json_sorted(&Checked {
                    records: report.records,
                    indexed_listings: report.indexed_listings,
                    derived_entries: report.derived_entries,
                    problems: report.problem_count,
                })?;
            } else {
                for p in &report.problems {
                    ctx.out.line(format!("problem at {}: {}", p.key, p.what))?;
                }
                ctx.out.line(format!(
                    "{} records, {} indexed listings, {} derived entries: {}",
                    report.records,
                    report.indexed_listings,
                    report.derived_entries,
                    if report.is_ok() {
                        "consistent".to_owned()
                    } else {
                        format!("{} problem(s)", report.problem_count)
                    }
                ))?;
            }
            if !report.is_ok() {
                bail!(
                    "the store has {} problem(s): run `mutua store reindex` to rebuild the indexes",
                    report.problem_count
                );
            }
            Ok(())
        }
        StoreCommand::Compact => {
            // Opened first so that a damaged or foreign directory is refused
            // (and an older layout migrated) before anything is copied.
            let path = store.path().to_owned();
            drop(store);
            let report = compact(&path)?;
            let mib = |b: u64| b as f64 / 1_048_576.0;
            if ctx.out.json {
                return Ok(ctx.out.json_sorted(&Compacted {
                    entries: report.entries,
                    bytes_before: report.bytes_before,
                    bytes_after: report.bytes_after,
                })?);
            }
            ctx.out.line(format!(
                "copied {} entries: {:.1} MiB before, {:.1} MiB after",
                report.entries,
                mib(report.bytes_before),
                mib(report.bytes_after)
            ))?;
            Ok(())
        }
        StoreCommand::Reindex => {
            let report = store.reindex()?;
            if ctx.out.json {
                return Ok(ctx.out.json_sorted(&Reindexed {
                    records: report.records,
                    indexed_listings: report.indexed_listings,
                    quarantined: report.quarantined,
                })?);
            }
            ctx.out.line(format!(
                "rebuilt the indexes of {} records ({} listings); {} record(s) quarantined",
                report.records, report.indexed_listings, report.quarantined
            ))?;
            Ok(())
        }
    }
}
