//! `mutua search`, `mutua show`, `mutua match`: reading the replica.

use std::collections::{BTreeSet, HashMap};

use anyhow::{bail, Result};
use mutua_protocol::codes::departement_of_insee;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::listings::{all_pages, content_of, find_own, pages_and_centre, MAX_PAGE, SHORT_ID};
use super::{Context, Status, Usage};
use crate::args::{MatchArgs, SearchArgs, ShowArgs, SortBy};
use crate::client::{Client, Refusal};
use crate::collectivity::commune_label;
use crate::dates;
use crate::output::{truncate, TITLE_CHARS};

/// Width of the commune column: the code and most names in full.
const COMMUNE_CHARS: usize = 28;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Names of the members by key id, from their certificates.
fn member_names(client: &Client) -> Result<HashMap<String, String>> {
    let answer: Value = client.get("/v1/members", &[])?;
    Ok(answer["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["revoked"].as_bool() != Some(true))
        .map(|m| {
            let c = &m["certificate"];
            (s(&c["subject"]).to_owned(), s(&c["name"]).to_owned())
        })
        .collect())
}

/// Key ids of a `--from` value: a key id as is; a SIREN or INSEE code
/// through the members' certificates.
fn authors_of(client: &Client, who: &[String]) -> Result<Vec<String>> {
    if who.is_empty() {
        return Ok(Vec::new());
    }
    let answer: Value = client.get("/v1/members", &[])?;
    let members = answer["members"].as_array().cloned().unwrap_or_default();
    let mut keys = Vec::new();
    for w in who {
        let w = w.trim();
        if w.parse::<mutua_protocol::PublicKey>().is_ok() {
            keys.push(w.to_owned());
            continue;
        }
        let found: Vec<String> = members
            .iter()
            .filter(|m| m["revoked"].as_bool() != Some(true))
            .map(|m| &m["certificate"])
            .filter(|c| s(&c["siren"]) == w || c["insee"].as_str() == Some(w))
            .map(|c| s(&c["subject"]).to_owned())
            .collect();
        if found.is_empty() {
            bail!("--from {w:?}: no member of the federation has this SIREN, INSEE code or key id (see `mutua federation members`)");
        }
        keys.extend(found);
    }
    Ok(keys)
}

fn terms(item: &Value) -> String {
    let pricing = &item["terms"]["pricing"];
    let mut text = match pricing.as_str() {
        Some("free") => "free".to_owned(),
        _ => {
            let c = &pricing["cost_sharing"];
            let cents = c["amount_cents"].as_u64().unwrap_or(0);
            format!("{}.{:02} €/{}", cents / 100, cents % 100, s(&c["per"]))
        }
    };
    if item["terms"]["convention_required"].as_bool() == Some(true) {
        text.push_str(", convention");
    }
    text
}

/// Listings as a table (or JSON lines). `names` maps author key ids to
/// collectivity names (`null` to leave the column out).
pub fn print_listings(ctx: &Context, items: &[Value], names: &Value) -> Result<()> {
    if ctx.out.json {
        for item in items {
            ctx.out.json_line(item)?;
        }
        return Ok(());
    }
    if items.is_empty() {
        return Ok(ctx.out.line("nothing found")?);
    }
    let with_distance = items.iter().any(|i| i["distance_km"].is_number());
    let with_names = names.is_object();
    let mut header = vec!["id", "side", "kind", "title"];
    if with_names {
        header.push("from");
    }
    header.extend(["commune", "terms", "expires"]);
    if with_distance {
        header.push("km");
    }
    let rows = items
        .iter()
        .map(|item| {
            let id = s(&item["id"]);
            let mut row = vec![
                id.get(..SHORT_ID).unwrap_or(id).to_owned(),
                s(&item["side"]).to_owned(),
                s(&item["kind"]).to_owned(),
                truncate(s(&item["title"]), TITLE_CHARS),
            ];
            if with_names {
                row.push(truncate(s(&names[s(&item["author"])]), 28));
            }
            row.extend([
                truncate(&commune_label(s(&item["location"]["insee"])), COMMUNE_CHARS),
                terms(item),
                item["expires_at"]
                    .as_u64()
                    .map(dates::format_date)
                    .unwrap_or_default(),
            ]);
            if with_distance {
                row.push(
                    item["distance_km"]
                        .as_f64()
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
    let mut query: Vec<(&str, String)> = Vec::new();
    let text = args.text.join(" ");
    if !text.trim().is_empty() {
        query.push(("text", text));
    }
    let list = |v: &[String]| v.join(",");
    if !args.kind.is_empty() {
        query.push(("kind", list(&args.kind).replace('-', "_")));
    }
    if !args.tag.is_empty() {
        query.push(("tag", list(&args.tag)));
    }
    if let Some(near) = &args.near {
        query.push(("near", near.clone()));
    }
    if let Some(radius) = args.radius {
        query.push(("radius_km", radius.to_string()));
    }
    for (name, value) in [
        ("insee", &args.insee),
        ("epci", &args.epci),
        ("departement", &args.departement),
    ] {
        if let Some(v) = value {
            query.push((name, v.to_uppercase()));
        }
    }
    if let Some(date) = &args.available {
        let at = match date.as_str() {
            "now" => "now".to_owned(),
            d => dates::parse_date(d)
                .map_err(|e| Usage(format!("--available: {e}")))?
                .to_string(),
        };
        query.push(("available", at));
    }
    if args.needs {
        query.push(("side", "need".into()));
    } else if args.offers {
        query.push(("side", "offer".into()));
    }
    let authors = authors_of(&client, &args.from)?;
    if !authors.is_empty() {
        query.push(("author", authors.join(",")));
    }
    let sort = match (args.sort, &args.near) {
        (Some(SortBy::Distance), None) => {
            return Err(Usage("--sort distance needs --near".into()).into())
        }
        (Some(SortBy::Distance), Some(_)) | (None, Some(_)) => "distance",
        _ => "recency",
    };
    query.push(("sort", sort.into()));
    if args.limit == 0 {
        return Err(Usage("--limit must be at least 1".into()).into());
    }
    let (items, centre) = pages_and_centre(&client, &query, args.limit).map_err(refused_flag)?;
    if let (Some(centre), false) = (centre, ctx.out.json) {
        ctx.out.line(centre_text(&centre))?;
    }
    let names = if ctx.out.json {
        Value::Null
    } else {
        json!(member_names(&client)?)
    };
    print_listings(ctx, &items, &names)
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
        Some("available") => "--available",
        _ => return e,
    };
    Usage(format!(
        "{flag}: {} (rule: {})",
        refusal.message, refusal.code
    ))
    .into()
}

/// "within 30 km of Bordeaux (33063, département 33)".
fn centre_text(centre: &Value) -> String {
    let radius = centre["radius_km"].as_f64().unwrap_or(0.0);
    let place = match centre["insee"].as_str() {
        Some(insee) => format!(
            "{} ({insee}, département {})",
            s(&centre["name"]),
            s(&centre["departement"])
        ),
        None => format!(
            "{:.5},{:.5}",
            centre["lat"].as_f64().unwrap_or(0.0),
            centre["lon"].as_f64().unwrap_or(0.0)
        ),
    };
    format!("within {radius} km of {place}:")
}

pub fn show(ctx: &Context, args: ShowArgs) -> Result<()> {
    let client = ctx.reader()?;
    let item = match args.id.split_once('/') {
        Some((author, id)) => client.get::<Value>(&format!("/v1/records/{author}/{id}"), &[])?,
        None => {
            let status = Status::fetch(&client)?;
            match find_own(&client, &status, None, &args.id) {
                Ok((_, item)) => item,
                Err(e) if e.downcast_ref::<Usage>().is_some() => return Err(e),
                // Not ours: look through the whole replica.
                Err(_) => {
                    let prefix = args.id.trim().to_lowercase();
                    let found: Vec<Value> = all_pages(&client, &[])?
                        .into_iter()
                        .filter(|i| s(&i["id"]).starts_with(&prefix))
                        .collect();
                    match found.len() {
                        1 => found.into_iter().next().expect("one"),
                        0 => bail!("no live listing {prefix}… in this node's replica"),
                        _ => {
                            return Err(Usage(format!(
                                "{prefix:?} matches several listings: give more digits"
                            ))
                            .into())
                        }
                    }
                }
            }
        }
    };
    if ctx.out.json {
        return Ok(ctx.out.json_line(&item)?);
    }
    let names = member_names(&client)?;
    let content = content_of(&item)?;
    let f = crate::listing::fields_of(&content, dates::now());
    let mut lines: Vec<(&str, String)> = vec![
        ("id", s(&item["id"]).to_owned()),
        ("side", s(&item["side"]).to_owned()),
        ("kind", content.kind.as_str().to_owned()),
        ("title", content.title.clone()),
        (
            "from",
            format!(
                "{} ({})",
                names
                    .get(s(&item["author"]))
                    .map_or("unknown member", String::as_str),
                s(&item["author"])
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
    lines.push(("terms", terms(&item)));
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
    lines.push((
        "published",
        item["published_at"]
            .as_u64()
            .map(dates::format_date)
            .unwrap_or_default(),
    ));
    lines.push((
        "expires",
        content
            .expires_at
            .map(dates::format_date)
            .unwrap_or_default(),
    ));
    lines.push(("version", item["version"].to_string()));
    for (label, value) in lines {
        ctx.out.line(format!("{label:<10} {value}"))?;
    }
    if !content.description.is_empty() {
        ctx.out.line("")?;
        ctx.out.line(&content.description)?;
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

fn listing_words(item: &Value) -> BTreeSet<String> {
    let mut all = words(s(&item["title"]));
    for tag in item["tags"].as_array().into_iter().flatten() {
        all.extend(words(s(tag)));
    }
    all
}

pub fn matches(ctx: &Context, args: MatchArgs) -> Result<()> {
    let client = ctx.client()?;
    let status = Status::fetch(&client)?;
    let ours: Vec<String> = match &args.publisher {
        Some(name) => vec![status.publisher(Some(name))?.key.clone()],
        None => status.publishers.iter().map(|p| p.key.clone()).collect(),
    };
    if ours.is_empty() {
        bail!("this node hosts no publisher, so it has no needs to match");
    }
    let needs = all_pages(
        &client,
        &[("author", ours.join(",")), ("side", "need".into())],
    )?;
    if needs.is_empty() && !ctx.out.json {
        return Ok(ctx
            .out
            .line("no need published by this node (`mutua need publish`)")?);
    }
    let names = member_names(&client)?;
    for need in &needs {
        let mut query = vec![
            ("side", "offer".to_owned()),
            ("kind", s(&need["kind"]).to_owned()),
            ("limit", MAX_PAGE.to_string()),
        ];
        if let Some(d) = departement_of_insee(s(&need["location"]["insee"])) {
            query.push(("departement", d.to_owned()));
        }
        let page: Value = client.get("/v1/records", &query)?;
        let wanted = listing_words(need);
        let mut scored: Vec<(usize, Value)> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| !ours.iter().any(|k| k == s(&o["author"])))
            .map(|o| (listing_words(o).intersection(&wanted).count(), o.clone()))
            .filter(|(score, _)| *score > 0)
            .collect();
        scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        scored.truncate(args.limit);
        if ctx.out.json {
            for (score, offer) in &scored {
                ctx.out
                    .json_line(&json!({ "need": need["id"], "score": score, "offer": offer }))?;
            }
            continue;
        }
        let id = s(&need["id"]);
        ctx.out.line(format!(
            "need {} {} ({}, {})",
            id.get(..SHORT_ID).unwrap_or(id),
            s(&need["title"]),
            s(&need["kind"]),
            commune_label(s(&need["location"]["insee"]))
        ))?;
        if scored.is_empty() {
            ctx.out.line("  no matching offer in the département yet")?;
            continue;
        }
        let offers: Vec<Value> = scored.into_iter().map(|(_, o)| o).collect();
        print_listings(ctx, &offers, &json!(names))?;
        ctx.out.line("")?;
    }
    Ok(())
}
