//! The local software catalogue: `mutua catalogue import FILE` (the SILL's
//! `catalogi.json`, Comptoir du Libre's `comptoir-du-libre_export_v1.json`,
//! files the operator downloads: nothing is fetched) and `mutua catalogue
//! show NAME`, and the searches by software id or name (`mutua search
//! --sill 12`, `--software Nextcloud`).
//!
//! A listing names its software by tags (`sill:12`, `comptoir:461`,
//! `wikidata:Q25874683`, docs/OPEN-DATA.md); the catalogue only finds those
//! ids from a name here and shows the software's licence and description.
//! It lives in the data directory and changes nothing the node stores or
//! accepts.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use mutua_api::Hit;
use mutua_opendata::software::{Catalogue, CatalogueId, Software};

use super::listings::pages_and_centre;
use super::search::print_listings;
use super::Context;
use crate::args::{CatalogueCommand, SearchArgs};

/// The catalogue's file in the data directory.
const FILE: &str = "software-catalogue.json";

fn path(ctx: &Context) -> PathBuf {
    ctx.data_dir.join(FILE)
}

/// The local catalogue (empty when none was imported).
pub fn load(ctx: &Context) -> Result<Catalogue> {
    let path = path(ctx);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged: import the catalogues again", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalogue::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the catalogue beside, then renames it over the old one, so a
/// crash leaves the old or the new file, never half of one.
fn save(ctx: &Context, catalogue: &Catalogue) -> Result<()> {
    let path = path(ctx);
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(catalogue)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

pub fn run(ctx: &Context, command: CatalogueCommand) -> Result<()> {
    match command {
        CatalogueCommand::Import { files } => import(ctx, &files),
        CatalogueCommand::Show { name } => show(ctx, &name),
    }
}

fn import(ctx: &Context, files: &[PathBuf]) -> Result<()> {
    if !ctx.data_dir.is_dir() {
        bail!(
            "no data directory at {} (run `mutua init` first)",
            ctx.data_dir.display()
        );
    }
    let mut catalogue = load(ctx)?;
    let mut summaries = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let summary = catalogue
            .import(&text)
            .map_err(|e| anyhow::anyhow!("{} : {e}", file.display()))?;
        summaries.push((file, summary));
    }
    save(ctx, &catalogue)?;
    for (file, s) in summaries {
        if ctx.out.json {
            ctx.out.json_sorted(&serde_json::json!({
                "file": file, "source": s.source.label(), "added": s.added,
                "merged": s.merged, "skipped": s.skipped,
            }))?;
        } else {
            ctx.out.line(format!("{} — {s}", file.display()))?;
        }
    }
    if !ctx.out.json {
        ctx.out.line(format!(
            "{} logiciel(s) dans le catalogue local",
            catalogue.software.len()
        ))?;
    }
    Ok(())
}

/// One line about a software, for people: name, licence, ids, description.
pub fn describe(s: &Software) -> String {
    let mut text = format!("Logiciel : {}", s.name);
    if let Some(licence) = &s.licence {
        text.push_str(&format!(" — licence {licence}"));
    }
    let ids: Vec<String> = s.tags();
    if !ids.is_empty() {
        text.push_str(&format!(" — {}", ids.join(", ")));
    }
    if let Some(d) = &s.description {
        text.push_str(&format!("\n  {d}"));
    }
    text
}

fn show(ctx: &Context, name: &str) -> Result<()> {
    let catalogue = load(ctx)?;
    let found = match CatalogueId::from_tag(name) {
        Some(id) => catalogue.by_id(&id).into_iter().collect(),
        None => catalogue.by_name(name),
    };
    if found.is_empty() {
        bail!("no software {name:?} in the local catalogue (import the SILL's and Comptoir du Libre's exports with `mutua catalogue import`)");
    }
    for s in found {
        if ctx.out.json {
            ctx.out.json_sorted(s)?;
        } else {
            ctx.out.line(describe(s))?;
        }
    }
    Ok(())
}

/// The catalogue tags `--sill`, `--comptoir`, `--wikidata` and
/// `--software` ask for: any one of them matches. `None` when none of
/// these flags is given.
fn wanted_tags(ctx: &Context, args: &SearchArgs) -> Result<Option<Vec<String>>> {
    let asked = args.sill.is_some()
        || args.comptoir.is_some()
        || args.wikidata.is_some()
        || args.software.is_some();
    if !asked {
        return Ok(None);
    }
    let mut ids: Vec<CatalogueId> = Vec::new();
    ids.extend(args.sill.map(CatalogueId::Sill));
    ids.extend(args.comptoir.map(CatalogueId::Comptoir));
    if let Some(q) = &args.wikidata {
        let tag = format!("wikidata:{}", q.trim());
        ids.push(CatalogueId::from_tag(&tag).ok_or_else(|| {
            super::Usage(format!(
                "--wikidata {q:?}: a Wikidata item is Q and digits (Q25874683)"
            ))
        })?);
    }
    if let Some(name) = &args.software {
        let catalogue = load(ctx)?;
        let found = catalogue.by_name(name);
        if found.is_empty() {
            bail!("--software {name:?}: no such software in the local catalogue (import the SILL's and Comptoir du Libre's exports with `mutua catalogue import`, or search by --tag)");
        }
        for s in found {
            ids.extend(s.ids());
        }
    }
    Ok(Some(ids.iter().map(CatalogueId::tag).collect()))
}

/// `mutua search` with catalogue flags: one query per tag (tags combine
/// with AND in a query; a software's ids are alternatives), merged, most
/// recent first, and the software described under the table. `None` when
/// no catalogue flag is given.
pub fn search(
    ctx: &Context,
    client: &crate::client::Client,
    args: &SearchArgs,
    query: &mutua_api::RecordsQuery,
) -> Result<Option<()>> {
    let Some(tags) = wanted_tags(ctx, args)? else {
        return Ok(None);
    };
    let mut seen = HashSet::new();
    let mut items: Vec<Hit> = Vec::new();
    for tag in &tags {
        let mut q = query.clone();
        q.tag = Some(match &query.tag {
            Some(others) => format!("{others},{tag}"),
            None => tag.clone(),
        });
        for hit in pages_and_centre(client, &q, args.limit)?.0 {
            if seen.insert((hit.listing.author, hit.listing.id)) {
                items.push(hit);
            }
        }
    }
    items.sort_by_key(|h| std::cmp::Reverse(h.listing.published_at));
    items.truncate(args.limit);
    print_listings(ctx, &items, None)?;
    if !ctx.out.json {
        let catalogue = load(ctx)?;
        let mut described = HashSet::new();
        for hit in &items {
            if let Some(s) = catalogue.for_tags(&hit.listing.content.tags) {
                if described.insert(s.name.clone()) {
                    ctx.out.line(describe(s))?;
                }
            }
        }
    }
    Ok(Some(()))
}

/// The software a listing's tags name, described, for `mutua show`.
pub fn describe_listing(ctx: &Context, tags: &[String]) -> Result<Option<String>> {
    Ok(load(ctx)?.for_tags(tags).map(describe))
}
