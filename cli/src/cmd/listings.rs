//! `mutua offer …` and `mutua need …`: this node's own listings.

use anyhow::{bail, Result};
use mutua_api::{
    Hit, Listing, ListingContent, NearCentre, Published, RecordsQuery, WithdrawParams,
};
use mutua_protocol::PublicKey;

use super::{gossip_text, Context, Hosted, Usage};
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
        ListingCommand::Publiccode { id, publisher } => {
            let client = ctx.reader()?;
            let hosted = Hosted::fetch(&client)?;
            let (_, listing) = find_own(&client, &hosted, publisher.as_deref(), &id)?;
            Ok(ctx
                .out
                .raw(super::opendata::publiccode_yaml(&listing.content)?.as_bytes())?)
        }
    }
}

fn fields(file: Option<&std::path::Path>, flags: ListingFields) -> Result<ListingFields> {
    Ok(match file {
        Some(path) => listing::overlay(listing::read_file(path)?, flags),
        None => flags,
    })
}

/// Builds and checks the content locally, naming the field at fault.
fn content_for(side: Side, f: &ListingFields, author: PublicKey) -> Result<ListingContent> {
    let now = dates::now();
    let content = listing::to_content(side, f, now).map_err(|e| Usage(e.to_string()))?;
    listing::check(&content, author, now, 1).map_err(|e| {
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
        eprintln!("warning: {}", w.message);
    }
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&published.record)?);
    }
    let Some(l) = published.record.listing() else {
        bail!("the node answered with a record that is not an offer or a need");
    };
    ctx.out.line(format!(
        "{verb} {} {} as {publisher} (version {}); {}",
        l.content.side.as_str(),
        l.id.to_hex(),
        l.version,
        gossip_text(&published.gossip)
    ))?;
    Ok(())
}

fn publish(ctx: &Context, side: Side, args: PublishArgs) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let publisher = hosted.publisher(args.publisher.as_deref())?;
    let f = match &args.publiccode {
        Some(path) => super::opendata::publiccode_fields(ctx, path, args.fields)?,
        None => fields(args.file.as_deref(), args.fields)?,
    };
    let content = content_for(side, &f, publisher.key)?;
    let published = client.call(|api| api.publish(Some(&publisher.name), &content))?;
    report(ctx, "published", &publisher.name, &published)
}

/// A listing of a hosted publisher whose id starts with `prefix`:
/// `(publisher name, listing)`.
pub fn find_own(
    client: &Client,
    hosted: &Hosted,
    publisher: Option<&str>,
    prefix: &str,
) -> Result<(String, Listing)> {
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
    let publishers: Vec<_> = match publisher {
        Some(name) => vec![hosted.publisher(Some(name))?],
        None => hosted.publishers.iter().collect(),
    };
    let keys: Vec<PublicKey> = publishers.iter().map(|p| p.key).collect();
    let query = RecordsQuery {
        author: Some(author_filter(&keys)),
        ..Default::default()
    };
    let mut found: Vec<Listing> = all_pages(client, &query)?
        .into_iter()
        .map(|hit| hit.listing)
        .filter(|l| l.id.to_hex().starts_with(&prefix))
        .collect();
    match found.len() {
        1 => {
            let one = found.remove(0);
            let name = publishers
                .iter()
                .find(|p| p.key == one.author)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            Ok((name, one))
        }
        0 => bail!(
            "no live listing {prefix}… by a publisher hosted here (see `mutua offer list`, `mutua need list`)"
        ),
        _ => Err(Usage(format!("{prefix:?} matches several listings: give more digits")).into()),
    }
}

/// The `author` parameter of a query: key ids, comma-separated.
pub fn author_filter(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::key_id)
        .collect::<Vec<_>>()
        .join(",")
}

/// The node's largest page.
pub const MAX_PAGE: usize = 500;

/// Every page of `GET /v1/records` for this query.
pub fn all_pages(client: &Client, query: &RecordsQuery) -> Result<Vec<Hit>> {
    Ok(pages_and_centre(client, query, usize::MAX)?.0)
}

/// The pages of `GET /v1/records` for this query, until the last or until
/// `at_most` items (never more), and for a `near` query where the node
/// centred it (the first page's `near`: the point, and the commune it
/// names).
pub fn pages_and_centre(
    client: &Client,
    query: &RecordsQuery,
    at_most: usize,
) -> Result<(Vec<Hit>, Option<NearCentre>)> {
    let mut items = Vec::new();
    let mut centre = None;
    let mut query = RecordsQuery {
        cursor: None,
        ..query.clone()
    };
    while items.len() < at_most {
        query.limit = Some((at_most - items.len()).min(MAX_PAGE));
        let page = client.call(|api| api.search(&query))?;
        if centre.is_none() {
            centre = page.near;
        }
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    Ok((items, centre))
}

fn update(ctx: &Context, side: Side, args: UpdateArgs) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    // The node refuses the other side (`wrong_side`); the content is built
    // for the side named on the command line, so it is the one checked.
    let (name, current) = find_own(&client, &hosted, args.publisher.as_deref(), &args.id)?;
    let now = dates::now();
    let old = &current.content;
    let given = fields(args.file.as_deref(), args.fields)?;
    let keep_expiry = given.expires_in_days.is_none();
    let f = listing::overlay(listing::fields_of(old, now), given);
    let mut content = content_for(side, &f, current.author)?;
    if keep_expiry {
        content.expires_at = old.expires_at;
    }
    let published = client.call(|api| api.update(Some(&name), &current.id, &content))?;
    report(ctx, "updated", &name, &published)
}

fn withdraw(ctx: &Context, side: Side, id: &str, publisher: Option<&str>) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let (name, current) = find_own(&client, &hosted, publisher, id)?;
    let params = WithdrawParams {
        publisher: Some(name),
        side: Some(side),
    };
    let published = client.call(|api| api.withdraw(&current.id, &params))?;
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&published.record)?);
    }
    ctx.out.line(format!(
        "withdrew {} {} ({}); {}",
        current.content.side.as_str(),
        current.id.to_hex(),
        current.content.title,
        gossip_text(&published.gossip)
    ))?;
    Ok(())
}

fn list(ctx: &Context, side: Side, publisher: Option<&str>) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let authors = hosted.keys(publisher)?;
    if authors.is_empty() {
        bail!("this node hosts no publisher: add one with `mutua key add --collectivity <code>`");
    }
    let query = RecordsQuery {
        author: Some(author_filter(&authors)),
        side: Some(side.as_str().into()),
        ..Default::default()
    };
    let items = all_pages(&client, &query)?;
    super::search::print_listings(ctx, &items, None)
}
