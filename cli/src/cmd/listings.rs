//! `mutua offer …` and `mutua need …`: this node's own listings.

use anyhow::{bail, Result};
use mutua_node::api::json::ListingContent;
use serde_json::{json, Value};

use super::federation::Published;
use super::{with_as, Context, Status, Usage};
use crate::args::{ListingCommand, ListingFields, PublishArgs, Side, UpdateArgs};
use crate::client::Client;
use crate::dates;
use crate::listing;

/// How many hex digits of a listing id tables show (48 bits: unambiguous
/// in practice; every command takes such a prefix).
pub const SHORT_ID: usize = 12;

pub fn run(ctx: &Context, side: Side, command: ListingCommand) -> Result<()> {
    match command {
        ListingCommand::Publish(a) => publish(ctx, side, a),
        ListingCommand::Update(a) => update(ctx, side, a),
        ListingCommand::Withdraw { id, publisher } => {
            withdraw(ctx, side, &id, publisher.as_deref())
        }
        ListingCommand::List { publisher } => list(ctx, side, publisher.as_deref()),
    }
}

fn fields(file: Option<&std::path::Path>, flags: ListingFields) -> Result<ListingFields> {
    Ok(match file {
        Some(path) => listing::overlay(listing::read_file(path)?, flags),
        None => flags,
    })
}

/// Builds and checks the content locally, naming the field at fault.
fn content_for(side: Side, f: &ListingFields, author: &str) -> Result<ListingContent> {
    let now = dates::now();
    let content = listing::to_content(side, f, now).map_err(|e| Usage(e.to_string()))?;
    listing::check(&content, author.parse()?, now, 1).map_err(|e| {
        let column = e.field().map(listing::column_of).unwrap_or("");
        let flag = if column.is_empty() || column.contains('/') {
            String::new()
        } else {
            format!(" (--{})", column.replace('_', "-"))
        };
        anyhow::anyhow!("invalid {}: {e}{flag} (rule: {})", side.as_str(), e.code())
    })?;
    Ok(content)
}

fn report(ctx: &Context, verb: &str, publisher: &str, published: &Published) -> Result<()> {
    // On stderr, so that --json output stays one record per line.
    for w in &published.warnings {
        eprintln!("warning: {}", w["message"].as_str().unwrap_or(""));
    }
    if ctx.out.json {
        return Ok(ctx.out.json_line(&published.record)?);
    }
    let r = &published.record;
    ctx.out.line(format!(
        "{verb} {} {} as {publisher} (version {}); {}",
        r["type"].as_str().unwrap_or(""),
        r["id"].as_str().unwrap_or(""),
        r["version"],
        published.gossip_text()
    ))?;
    Ok(())
}

fn publish(ctx: &Context, side: Side, args: PublishArgs) -> Result<()> {
    let client = ctx.client()?;
    let status = Status::fetch(&client)?;
    let publisher = status.publisher(args.publisher.as_deref())?;
    let f = fields(args.file.as_deref(), args.fields)?;
    let content = content_for(side, &f, &publisher.key)?;
    let published: Published = client.post(
        &with_as("/v1/listings", Some(&publisher.name)),
        &serde_json::to_value(&content)?,
    )?;
    report(ctx, "published", &publisher.name, &published)
}

/// A listing of a hosted publisher whose id starts with `prefix`:
/// `(publisher name, full record)`.
pub fn find_own(
    client: &Client,
    status: &Status,
    publisher: Option<&str>,
    prefix: &str,
) -> Result<(String, Value)> {
    let prefix = prefix.trim().to_lowercase();
    if prefix.len() < 6
        || mutua_protocol::unhex(&format!(
            "{prefix}{}",
            if prefix.len() % 2 == 1 { "0" } else { "" }
        ))
        .is_none()
    {
        return Err(Usage(format!(
            "{prefix:?} is not a listing id (at least 6 of its 32 hex digits)"
        ))
        .into());
    }
    let hosted: Vec<_> = match publisher {
        Some(name) => vec![status.publisher(Some(name))?],
        None => status.publishers.iter().collect(),
    };
    let authors: Vec<&str> = hosted.iter().map(|p| p.key.as_str()).collect();
    let found: Vec<Value> = all_pages(client, &[("author", authors.join(","))])?
        .into_iter()
        .filter(|item| {
            item["id"]
                .as_str()
                .is_some_and(|id| id.starts_with(&prefix))
        })
        .collect();
    match found.as_slice() {
        [one] => {
            let author = one["author"].as_str().unwrap_or("");
            let name = hosted
                .iter()
                .find(|p| p.key == author)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            Ok((name, one.clone()))
        }
        [] => bail!(
            "no live listing {prefix}… by a publisher hosted here (see `mutua offer list`, `mutua need list`)"
        ),
        _ => Err(Usage(format!("{prefix:?} matches several listings: give more digits")).into()),
    }
}

/// The node's largest page.
pub const MAX_PAGE: usize = 500;

/// Every page of `GET /v1/records` for these parameters.
pub fn all_pages(client: &Client, params: &[(&str, String)]) -> Result<Vec<Value>> {
    pages(client, params, usize::MAX)
}

/// The pages of `GET /v1/records` for these parameters, until the last or
/// until `at_most` items (never more).
pub fn pages(client: &Client, params: &[(&str, String)], at_most: usize) -> Result<Vec<Value>> {
    Ok(pages_and_centre(client, params, at_most)?.0)
}

/// [`pages`], and for a `near` query where the node centred it (the
/// first page's `near`: the point, and the commune it names).
pub fn pages_and_centre(
    client: &Client,
    params: &[(&str, String)],
    at_most: usize,
) -> Result<(Vec<Value>, Option<Value>)> {
    let mut items = Vec::new();
    let mut centre = None;
    let mut cursor: Option<String> = None;
    while items.len() < at_most {
        let mut query: Vec<(&str, String)> = params.to_vec();
        query.push(("limit", (at_most - items.len()).min(MAX_PAGE).to_string()));
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page: Value = client.get("/v1/records", &query)?;
        if centre.is_none() {
            centre = page.get("near").cloned();
        }
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok((items, centre))
}

/// The content part of a listing as the API returns it.
pub fn content_of(item: &Value) -> Result<ListingContent> {
    let mut input = item.as_object().cloned().unwrap_or_default();
    for meta in [
        "type",
        "author",
        "id",
        "version",
        "hash",
        "published_at",
        "distance_km",
    ] {
        input.remove(meta);
    }
    Ok(serde_json::from_value(Value::Object(input))?)
}

fn update(ctx: &Context, side: Side, args: UpdateArgs) -> Result<()> {
    let client = ctx.client()?;
    let status = Status::fetch(&client)?;
    // The node refuses the other side (`wrong_side`); the content is built
    // for the side named on the command line, so it is the one checked.
    let (name, current) = find_own(&client, &status, args.publisher.as_deref(), &args.id)?;
    let now = dates::now();
    let old = content_of(&current)?;
    let given = fields(args.file.as_deref(), args.fields)?;
    let keep_expiry = given.expires_in_days.is_none();
    let f = listing::overlay(listing::fields_of(&old, now), given);
    let author = current["author"].as_str().unwrap_or("");
    let mut content = content_for(side, &f, author)?;
    if keep_expiry {
        content.expires_at = old.expires_at;
    }
    let id = current["id"].as_str().unwrap_or("");
    let published: Published = client.put(
        &with_as(&format!("/v1/listings/{id}"), Some(&name)),
        &serde_json::to_value(&content)?,
    )?;
    report(ctx, "updated", &name, &published)
}

fn withdraw(ctx: &Context, side: Side, id: &str, publisher: Option<&str>) -> Result<()> {
    let client = ctx.client()?;
    let status = Status::fetch(&client)?;
    let (name, current) = find_own(&client, &status, publisher, id)?;
    let full = current["id"].as_str().unwrap_or("");
    let path = with_as(&format!("/v1/listings/{full}"), Some(&name));
    let published: Published = client.delete(&format!("{path}&side={}", side.as_str()))?;
    if ctx.out.json {
        return Ok(ctx.out.json_line(&published.record)?);
    }
    ctx.out.line(format!(
        "withdrew {} {full} ({}); {}",
        current["side"].as_str().unwrap_or(""),
        current["title"].as_str().unwrap_or(""),
        published.gossip_text()
    ))?;
    Ok(())
}

fn list(ctx: &Context, side: Side, publisher: Option<&str>) -> Result<()> {
    let client = ctx.client()?;
    let status = Status::fetch(&client)?;
    let authors: Vec<String> = match publisher {
        Some(_) => vec![status.publisher(publisher)?.key.clone()],
        None => status.publishers.iter().map(|p| p.key.clone()).collect(),
    };
    if authors.is_empty() {
        bail!("this node hosts no publisher: add one with `mutua key add --collectivity <code>`");
    }
    let items = all_pages(
        &client,
        &[
            ("author", authors.join(",")),
            ("side", side.as_str().into()),
        ],
    )?;
    super::search::print_listings(ctx, &items, &json!(null))
}
