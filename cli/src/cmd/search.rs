//! `mutua search`, `mutua show`, `mutua match`: reading the replica.

use std::collections::{BTreeSet, HashMap};

use anyhow::{bail, Result};
use mutua_api::{Hit, Listing, ListingContent, NearCentre, Record, RecordsQuery};
use mutua_protocol::codes::departement_of_insee;
use mutua_protocol::{ListingId, Pricing, PublicKey};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use super::listings::{all_pages, author_filter, find_own, pages_and_centre, MAX_PAGE, SHORT_ID};
use super::{Context, Hosted, Usage};
use crate::args::{MatchArgs, SearchArgs, ShowArgs};
use crate::client::{Client, Refusal};
use crate::collectivity::commune_label;
use crate::dates;
use crate::output::{truncate, TITLE_CHARS};

/// Width of the commune column: the code and most names in full.
const COMMUNE_CHARS: usize = 28;

/// Names of the collectivities by key, for the "from" column.
type Names = HashMap<PublicKey, String>;

/// Names of the members by key, from their certificates.
fn member_names(client: &Client) -> Result<Names> {
    Ok(client
        .call(|api| api.members())?
        .members
        .into_iter()
        .filter(|m| !m.revoked)
        .map(|m| (m.certificate.subject, m.certificate.name))
        .collect())
}

/// Key ids of a `--from` value: a key id as is; a SIREN or INSEE code
/// through the members' certificates.
fn authors_of(client: &Client, who: &[String]) -> Result<Vec<String>> {
    if who.is_empty() {
        return Ok(Vec::new());
    }
    let members = client.call(|api| api.members())?.members;
    let mut keys = Vec::new();
    for w in who {
        let w = w.trim();
        if w.parse::<PublicKey>().is_ok() {
            keys.push(w.to_owned());
            continue;
        }
        let found: Vec<String> = members
            .iter()
            .filter(|m| !m.revoked)
            .map(|m| &m.certificate)
            .filter(|c| c.siren == w || c.insee.as_deref() == Some(w))
            .map(|c| c.subject.key_id())
            .collect();
        if found.is_empty() {
            bail!("--from {w:?}: no member of the federation has this SIREN, INSEE code or key id (see `mutua federation members`)");
        }
        keys.extend(found);
    }
    Ok(keys)
}

fn terms(content: &ListingContent) -> String {
    let mut text = match &content.terms.pricing {
        Pricing::Free => "free".to_owned(),
        Pricing::CostSharing { amount_cents, per } => {
            format!("{}.{:02} €/{per}", amount_cents / 100, amount_cents % 100)
        }
    };
    if content.terms.convention_required {
        text.push_str(", convention");
    }
    text
}

/// Listings as a table (or JSON lines), with the collectivities' names
/// when `names` is given.
pub fn print_listings(ctx: &Context, items: &[Hit], names: Option<&Names>) -> Result<()> {
    if ctx.out.json {
        for item in items {
            ctx.out.json_sorted(item)?;
        }
        return Ok(());
    }
    if items.is_empty() {
        return Ok(ctx.out.line("nothing found")?);
    }
    let with_distance = items.iter().any(|i| i.distance_km.is_some());
    let mut header = vec!["id", "side", "kind", "title"];
    if names.is_some() {
        header.push("from");
    }
    header.extend(["commune", "terms", "expires"]);
    if with_distance {
        header.push("km");
    }
    let rows = items
        .iter()
        .map(|item| {
            let l = &item.listing;
            let c = &l.content;
            let id = l.id.to_hex();
            let mut row = vec![
                id.get(..SHORT_ID).unwrap_or(&id).to_owned(),
                c.side.as_str().to_owned(),
                c.kind.as_str().to_owned(),
                truncate(&c.title, TITLE_CHARS),
            ];
            if let Some(names) = names {
                row.push(truncate(
                    names.get(&l.author).map_or("", String::as_str),
                    28,
                ));
            }
            row.extend([
                truncate(&commune_label(&c.location.insee), COMMUNE_CHARS),
                terms(c),
                c.expires_at.map(dates::format_date).unwrap_or_default(),
            ]);
            if with_distance {
                row.push(
                    item.distance_km
                        .map(|d| format!("{d:.1}"))
                        .unwrap_or_default(),
                );
            }
            row
        })
        .collect();
    Ok(ctx.out.table(&header, rows)?)
}

pub fn search(ctx: &Context, args: SearchArgs) -> Result<()> {
    let client = ctx.reader()?;
    let query = args.query(|from| authors_of(&client, from))?;
    if super::software::search(ctx, &client, &args, &query)
        .map_err(refused_flag)?
        .is_some()
    {
        return Ok(());
    }
    let (items, centre) = pages_and_centre(&client, &query, args.limit).map_err(refused_flag)?;
    if let (Some(centre), false) = (centre, ctx.out.json) {
        ctx.out.line(centre_text(&centre))?;
    }
    let names = if ctx.out.json {
        None
    } else {
        Some(member_names(&client)?)
    };
    print_listings(ctx, &items, names.as_ref())
}

/// A search the node refused for one of its parameters is a mistake in the
/// flag the user typed: named as such, with the usage exit code.
fn refused_flag(e: anyhow::Error) -> anyhow::Error {
    let Some(refusal) = e.downcast_ref::<Refusal>() else {
        return e;
    };
    let flag = match refusal.field.as_deref() {
        Some("near") => "--near",
        Some("radius_km") => "--radius",
        Some("insee") => "--insee",
        Some("epci") => "--epci",
        Some("departement") => "--departement",
        Some("kind") => "--kind",
        Some("available") | Some("free_from") | Some("free_to") => "--available",
        _ => return e,
    };
    Usage(format!(
        "{flag}: {} (rule: {})",
        refusal.message, refusal.code
    ))
    .into()
}

/// "within 30 km of Bordeaux (33063, département 33)".
fn centre_text(centre: &NearCentre) -> String {
    let place = match &centre.insee {
        Some(insee) => format!(
            "{} ({insee}, département {})",
            centre.name.as_deref().unwrap_or(""),
            centre.departement.as_deref().unwrap_or("")
        ),
        None => format!("{:.5},{:.5}", centre.lat, centre.lon),
    };
    format!("within {} km of {place}:", centre.radius_km)
}

/// The current record of `AUTHOR/ID`, refused as the node refuses a bad
/// key id, listing id or an empty slot.
pub(super) fn record_at(client: &Client, author: &str, id: &str) -> Result<Record> {
    let refused = |code: &str, message: String, field: Option<&str>| {
        let mut refusal = mutua_api::Refusal::new(code, message);
        refusal.field = field.map(str::to_owned);
        anyhow::Error::from(Refusal(refusal))
    };
    let key: PublicKey = author.parse().map_err(|e| {
        refused(
            "invalid_parameter",
            format!("{author:?} is not a key id: {e}"),
            Some("author"),
        )
    })?;
    let id = ListingId::from_hex(id).ok_or_else(|| {
        refused(
            "invalid_parameter",
            format!("{id:?} is not a listing id (32 hexadecimal digits)"),
            Some("id"),
        )
    })?;
    client.call(|api| api.record(&key, &id))?.ok_or_else(|| {
        refused(
            "not_found",
            "no such listing in this node's replica".into(),
            None,
        )
    })
}

/// The live listing whose id starts with `prefix`: a hosted publisher's
/// first, else any in the replica.
pub(super) fn find_any(client: &Client, prefix: &str) -> Result<Listing> {
    let hosted = Hosted::fetch(client)?;
    match find_own(client, &hosted, None, prefix) {
        Ok((_, listing)) => return Ok(listing),
        Err(e) if e.downcast_ref::<Usage>().is_some() => return Err(e),
        // Not ours: look through the whole replica.
        Err(_) => {}
    }
    let prefix = prefix.trim().to_lowercase();
    let mut found: Vec<Listing> = all_pages(client, &RecordsQuery::default())?
        .into_iter()
        .map(|hit| hit.listing)
        .filter(|l| l.id.to_hex().starts_with(&prefix))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("no live listing {prefix}… in this node's replica"),
        _ => Err(Usage(format!(
            "{prefix:?} matches several listings: give more digits"
        ))
        .into()),
    }
}

pub fn show(ctx: &Context, args: ShowArgs) -> Result<()> {
    let client = ctx.reader()?;
    let item = match args.id.split_once('/') {
        Some((author, id)) => {
            let record = record_at(&client, author, id)?;
            if ctx.out.json {
                return Ok(ctx.out.json_sorted(&record)?);
            }
            match record {
                Record::Offer(l) | Record::Need(l) => l,
                _ => bail!("{author}/{id} holds no live offer or need (it was withdrawn)"),
            }
        }
        None => find_any(&client, &args.id)?,
    };
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&item)?);
    }
    let names = member_names(&client)?;
    let content = &item.content;
    let f = crate::listing::fields_of(content, dates::now());
    let mut lines: Vec<(&str, String)> = vec![
        ("id", item.id.to_hex()),
        ("side", content.side.as_str().to_owned()),
        ("kind", content.kind.as_str().to_owned()),
        ("title", content.title.clone()),
        (
            "from",
            format!(
                "{} ({})",
                names
                    .get(&item.author)
                    .map_or("unknown member", String::as_str),
                item.author
            ),
        ),
        ("commune", commune_label(&content.location.insee)),
    ];
    if let Some(at) = f.at {
        lines.push(("position", at));
    }
    if let Some(r) = content.area.radius_km {
        lines.push(("radius", format!("{r} km")));
    }
    if !content.tags.is_empty() {
        lines.push(("tags", content.tags.join(", ")));
    }
    if let Some(c) = &content.capacity {
        lines.push(("capacity", c.clone()));
    }
    if !f.available.is_empty() {
        lines.push(("available", f.available.join(", ")));
    }
    lines.push(("terms", terms(content)));
    let contact = [
        Some(content.contact.role.clone()),
        content.contact.email.clone(),
        content.contact.phone.clone(),
        content.contact.url.clone(),
    ];
    lines.push((
        "contact",
        contact
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
    ));
    lines.push(("published", dates::format_date(item.published_at)));
    lines.push((
        "expires",
        content
            .expires_at
            .map(dates::format_date)
            .unwrap_or_default(),
    ));
    lines.push(("version", item.version.to_string()));
    if content.side == mutua_api::Side::Offer {
        let calendar = client.call(|api| {
            api.calendar(&item.author, &item.id, &mutua_api::CalendarQuery::default())
        })?;
        lines.extend(super::lending::calendar_lines(&calendar));
    }
    for (label, value) in lines {
        ctx.out.line(format!("{label:<10} {value}"))?;
    }
    if !content.description.is_empty() {
        ctx.out.line("")?;
        ctx.out.line(&content.description)?;
    }
    if let Some(software) = super::software::describe_listing(ctx, &content.tags)? {
        ctx.out.line("")?;
        ctx.out.line(software)?;
    }
    Ok(())
}

/// Lowercase words without accents, for comparing titles and tags.
fn words(text: &str) -> BTreeSet<String> {
    let plain: String = text
        .nfd()
        .filter(char::is_ascii)
        .collect::<String>()
        .to_lowercase();
    plain
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(str::to_owned)
        .collect()
}

fn listing_words(content: &ListingContent) -> BTreeSet<String> {
    let mut all = words(&content.title);
    for tag in &content.tags {
        all.extend(words(tag));
    }
    all
}

/// `match --json`: an offer for one of our needs.
#[derive(Serialize)]
struct Matched<'a> {
    need: String,
    score: usize,
    offer: &'a Hit,
}

pub fn matches(ctx: &Context, args: MatchArgs) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let ours = hosted.keys(args.publisher.as_deref())?;
    if ours.is_empty() {
        bail!("this node hosts no publisher, so it has no needs to match");
    }
    let needs = all_pages(
        &client,
        &RecordsQuery {
            author: Some(author_filter(&ours)),
            side: Some("need".into()),
            ..Default::default()
        },
    )?;
    if needs.is_empty() && !ctx.out.json {
        return Ok(ctx
            .out
            .line("no need published by this node (`mutua need publish`)")?);
    }
    let names = member_names(&client)?;
    for need in needs.iter().map(|hit| &hit.listing) {
        let wanted = &need.content;
        let query = RecordsQuery {
            side: Some("offer".into()),
            kind: Some(wanted.kind.as_str().into()),
            limit: Some(MAX_PAGE),
            departement: departement_of_insee(&wanted.location.insee).map(str::to_owned),
            ..Default::default()
        };
        let page = client.call(|api| api.search(&query))?;
        let wanted_words = listing_words(wanted);
        let mut scored: Vec<(usize, Hit)> = page
            .items
            .into_iter()
            .filter(|o| !ours.contains(&o.listing.author))
            .map(|o| {
                let score = listing_words(&o.listing.content)
                    .intersection(&wanted_words)
                    .count();
                (score, o)
            })
            .filter(|(score, _)| *score > 0)
            .collect();
        scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        scored.truncate(args.limit);
        if ctx.out.json {
            for (score, offer) in &scored {
                ctx.out.json_sorted(&Matched {
                    need: need.id.to_hex(),
                    score: *score,
                    offer,
                })?;
            }
            continue;
        }
        let id = need.id.to_hex();
        ctx.out.line(format!(
            "need {} {} ({}, {})",
            id.get(..SHORT_ID).unwrap_or(&id),
            wanted.title,
            wanted.kind.as_str(),
            commune_label(&wanted.location.insee)
        ))?;
        if scored.is_empty() {
            ctx.out.line("  no matching offer in the département yet")?;
            continue;
        }
        let offers: Vec<Hit> = scored.into_iter().map(|(_, o)| o).collect();
        print_listings(ctx, &offers, Some(&names))?;
        ctx.out.line("")?;
    }
    Ok(())
}
