//! Open data from the CLI: `mutua export --format jsonld|dcat` (the same
//! documents the node serves publicly, built here by `mutua-opendata` from
//! the control API's answers), `mutua offer publish --publiccode FILE` and
//! `mutua offer publiccode ID`.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use mutua_api::{Hit, ListingContent};
use mutua_opendata::dcat::{catalog_json_ld, CatalogInput};
use mutua_opendata::{latest_identities, publiccode, schema_org, Identity, Publisher, Site};
use mutua_protocol::PublicKey;

use super::{software, Context, Hosted, Usage};
use crate::args::ListingFields;
use crate::client::Client;
use crate::dates;

/// Where the node is seen from outside: `opendata.base_url`, else its
/// control API's address.
fn site(ctx: &Context, client: &Client) -> Result<Site> {
    let dir = mutua_node::datadir::DataDir::open(&ctx.data_dir)?;
    let settings = mutua_node::config::load_settings(
        &mutua_node::config::Overrides::default(),
        &dir.config_path(),
    )?;
    let base = match settings.opendata_base_url {
        Some(base) => base,
        None => client.call(|api| Ok(api.base().to_owned()))?,
    };
    Ok(Site::new(&base))
}

/// The identities the members' certificates give, by key: each member's
/// unrevoked certificate issued last.
fn identities(client: &Client) -> Result<HashMap<PublicKey, Identity>> {
    let members = client.call(|api| api.members())?.members;
    Ok(latest_identities(
        members
            .into_iter()
            .filter(|m| !m.revoked && m.membership == "member")
            .map(|m| m.certificate),
    ))
}

/// One schema.org JSON-LD document per listing, one per line.
pub fn jsonld(ctx: &Context, client: &Client, items: &[Hit]) -> Result<Vec<u8>> {
    let site = site(ctx, client)?;
    let identities = identities(client)?;
    let mut out = Vec::new();
    for hit in items {
        let l = &hit.listing;
        let doc = schema_org::listing(l, identities.get(&l.author), Some(&site));
        serde_json::to_writer(&mut out, &doc)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The DCAT-AP catalogue of the collectivities this node hosts, as JSON-LD.
pub fn dcat(ctx: &Context, client: &Client, items: &[Hit]) -> Result<Vec<u8>> {
    let site = site(ctx, client)?;
    let mut identities = identities(client)?;
    let hosted = Hosted::fetch(client)?;
    let federation = client.call(|api| api.status())?.federation;
    let publishers: Vec<Publisher> = hosted
        .publishers
        .iter()
        .map(|p| Publisher {
            key: p.key,
            identity: identities.remove(&p.key),
            listings: items
                .iter()
                .filter(|h| h.listing.author == p.key)
                .map(|h| h.listing.clone())
                .collect(),
        })
        .collect();
    let input = CatalogInput {
        site: &site,
        federation: &federation,
        publishers: &publishers,
        now: dates::now(),
    };
    let mut out = serde_json::to_vec_pretty(&catalog_json_ld(&input))?;
    out.push(b'\n');
    Ok(out)
}

/// The fields a publiccode.yml gives, under those given as flags (flags
/// win); the software's catalogue ids as tags when the local catalogue
/// knows it by name. A software offer unless `--kind` says otherwise.
pub fn publiccode_fields(
    ctx: &Context,
    path: &std::path::Path,
    flags: ListingFields,
) -> Result<ListingFields> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let offer = publiccode::parse(&text).map_err(|e| Usage(e.to_string()))?;
    let mut tags = offer.tags.clone();
    if let Some(found) = software::load(ctx)?.by_name(&offer.title).first() {
        tags.extend(found.tags());
    }
    tags.extend(flags.tags.iter().cloned());
    let mut unique: Vec<String> = Vec::new();
    for t in tags {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    unique.truncate(mutua_protocol::rules::MAX_TAGS);
    let contact = offer.contact.clone().unwrap_or_default();
    let or = |flag: Option<String>, from_file: Option<String>| flag.or(from_file);
    Ok(ListingFields {
        kind: flags.kind.clone().or(Some("software".into())),
        title: flags.title.clone().or(Some(offer.title)),
        description: flags.description.clone().or(Some(offer.description)),
        tags: unique,
        contact_role: or(
            flags.contact_role.clone(),
            Some(contact.name).filter(|n| !n.is_empty()),
        ),
        contact_email: or(flags.contact_email.clone(), contact.email),
        contact_phone: or(flags.contact_phone.clone(), contact.phone),
        contact_url: or(flags.contact_url.clone(), offer.url),
        ..flags
    })
}

/// A software or hosted-service listing as publiccode.yml.
pub fn publiccode_yaml(content: &ListingContent) -> Result<String> {
    use mutua_protocol::ResourceKind::{HostedService, Software};
    if !matches!(content.kind, Software | HostedService) {
        return Err(Usage(format!(
            "only a software or hosted_service listing exports as publiccode.yml (this one is {})",
            content.kind.as_str()
        ))
        .into());
    }
    Ok(publiccode::export(content))
}
