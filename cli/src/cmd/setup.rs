//! Commands that prepare a data directory (no running node needed).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use mutua_api::HostedPublisher;
use mutua_node::datadir::{self, DataDir, InitOptions};
use mutua_protocol::{Payload, PublicKey};
use mutua_store::refdata::Collectivity;
use serde::Serialize;

use super::Context;
use crate::args::{CollectivityArgs, CreateArgs, InitArgs, KeyAddArgs, KeyCommand, NetworkArgs};
use crate::collectivity;
use crate::dates;

/// The collectivity asked for, confirmed, and the publisher name to give
/// its key; `None` when none was asked for.
fn chosen(args: &CollectivityArgs) -> Result<Option<(Collectivity, String)>> {
    let Some(code) = &args.collectivity else {
        return Ok(None);
    };
    let c = collectivity::resolve(code)?;
    collectivity::confirm(&c, "create a publisher key", args.yes)?;
    let name = match &args.publisher {
        Some(name) => name.clone(),
        None => collectivity::slug(&c.name),
    };
    Ok(Some((c, name)))
}

/// What to do next for a new publisher key: have it admitted.
fn admit_hint(name: &str, key: &PublicKey, c: &Collectivity) -> String {
    format!(
        "publisher {name}: {key}\n  to publish, it needs a certificate: on a node holding the anchor key (or an \
         admitting member's), run\n    mutua federation admit {key} --collectivity {siren} --export {name}.cert\n  \
         then here: mutua federation import {name}.cert",
        siren = c.siren
    )
}

fn create_dir(
    ctx: &Context,
    federation: String,
    trust: Vec<PublicKey>,
    found: bool,
    who: &CollectivityArgs,
    network: &NetworkArgs,
) -> Result<()> {
    let chosen = chosen(who)?;
    let report = datadir::init(
        &ctx.data_dir,
        &InitOptions {
            federation: federation.clone(),
            anchors: trust,
            new_anchor: found,
            publishers: chosen.iter().map(|(_, name)| name.clone()).collect(),
            network: network.choices(),
        },
    )?;
    if ctx.out.json {
        #[derive(Serialize)]
        struct Created<'a> {
            data_dir: &'a Path,
            federation: String,
            peer_id: String,
            anchor: Option<String>,
            publishers: Vec<HostedPublisher>,
            wrote_config: bool,
        }
        let publishers = report
            .publishers
            .iter()
            .map(|(name, key)| HostedPublisher {
                name: name.clone(),
                key: *key,
            })
            .collect();
        return Ok(ctx.out.json_sorted(&Created {
            data_dir: &ctx.data_dir,
            federation,
            peer_id: report.peer_id.to_string(),
            anchor: report.anchor.map(|k| k.key_id()),
            publishers,
            wrote_config: report.wrote_config,
        })?);
    }
    let out = &ctx.out;
    out.line(format!("initialised {}", ctx.data_dir.display()))?;
    out.line(format!("  federation: {federation}"))?;
    out.line(format!("  peer id:    {}", report.peer_id))?;
    if !report.wrote_config {
        out.line("  kept the existing config.toml")?;
    }
    if let Some(anchor) = report.anchor {
        out.line(format!(
            "anchor key: {anchor}\n  every node of the federation trusts it: give this id to those who join \
             (`mutua init --federation {federation} --trust {anchor}`)\n  back up {} — whoever holds it admits members",
            DataDir::at(&ctx.data_dir).anchor_key_path().display()
        ))?;
    }
    for ((name, key), (c, _)) in report.publishers.iter().zip(&chosen) {
        if found {
            out.line(format!(
                "publisher {name}: {key}\n  once the node runs, admit it: mutua federation admit {name} --collectivity {}",
                c.siren
            ))?;
        } else {
            out.line(admit_hint(name, key, c))?;
        }
    }
    out.line("start the node with: mutua node".to_owned() + &dir_flag(ctx))?;
    Ok(())
}

/// ` --data-dir X` when the data directory is not the default one.
fn dir_flag(ctx: &Context) -> String {
    match datadir::default_path() {
        Ok(default) if default == ctx.data_dir => String::new(),
        _ => format!(" --data-dir {}", ctx.data_dir.display()),
    }
}

pub fn init(ctx: &Context, args: InitArgs) -> Result<()> {
    create_dir(
        ctx,
        args.federation,
        args.trust,
        false,
        &args.collectivity,
        &args.network,
    )
}

pub fn create(ctx: &Context, args: CreateArgs) -> Result<()> {
    create_dir(
        ctx,
        args.federation,
        Vec::new(),
        true,
        &args.collectivity,
        &args.network,
    )
}

pub fn key(ctx: &Context, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::List => list(ctx),
        KeyCommand::Add(KeyAddArgs { collectivity: who }) => {
            if who.collectivity.is_none() {
                return Err(super::Usage("--collectivity <SIREN|INSEE> is required".into()).into());
            }
            let dir = DataDir::open(&ctx.data_dir)?;
            let (c, name) = chosen(&who)?.expect("collectivity given");
            let key = dir.add_publisher(&name)?;
            let hosted = reload_running_node(ctx)?;
            if ctx.out.json {
                #[derive(Serialize)]
                struct Added {
                    name: String,
                    key: String,
                    siren: String,
                    hosted_now: bool,
                }
                return Ok(ctx.out.json_sorted(&Added {
                    name,
                    key: key.key_id(),
                    siren: c.siren,
                    hosted_now: hosted,
                })?);
            }
            ctx.out.line(admit_hint(&name, &key, &c))?;
            ctx.out.line(if hosted {
                "the running node hosts it now"
            } else {
                "the node hosts it from its next start"
            })?;
            Ok(())
        }
        KeyCommand::Remove { name, yes } => {
            let dir = DataDir::open(&ctx.data_dir)?;
            if !yes {
                confirm_removal(&name)?;
            }
            let moved = dir.remove_publisher(&name, crate::dates::now())?;
            let hosted = reload_running_node(ctx)?;
            if ctx.out.json {
                #[derive(Serialize)]
                struct Removed {
                    name: String,
                    moved_to: PathBuf,
                    running_node_updated: bool,
                }
                return Ok(ctx.out.json_sorted(&Removed {
                    name,
                    moved_to: moved,
                    running_node_updated: hosted,
                })?);
            }
            ctx.out.line(format!(
                "publisher {name} removed: its key is kept in {}{}",
                moved.display(),
                if hosted {
                    "; the running node no longer signs with it"
                } else {
                    ""
                }
            ))?;
            Ok(())
        }
    }
}

/// Asks a running node to read its publisher keys again; `false` when the
/// node is not running (it reads them at its next start).
fn reload_running_node(ctx: &Context) -> Result<bool> {
    let client = match ctx.client() {
        Ok(client) => client,
        Err(e) if e.downcast_ref::<crate::client::NodeNotRunning>().is_some() => return Ok(false),
        Err(e) => return Err(e),
    };
    client
        .call(|api| api.reload_publishers())
        .context("the key files changed, but the running node could not reload them: restart it")?;
    Ok(true)
}

fn confirm_removal(name: &str) -> Result<()> {
    collectivity::ask(
        &format!("stop publishing as {name} (its key is kept in keys/removed/)?"),
        &format!("add --yes to remove publisher {name}"),
    )
}

/// `key list --json`: a publisher key and its certificate.
#[derive(Serialize)]
struct KeyListed {
    name: String,
    key: String,
    certificate: Option<CertificateHeld>,
}

#[derive(Serialize)]
struct CertificateHeld {
    siren: String,
    name: String,
    valid_until: u64,
    may_admit: bool,
}

fn list(ctx: &Context) -> Result<()> {
    let dir = DataDir::open(&ctx.data_dir)?;
    let mut rows = Vec::new();
    for p in dir.publishers()? {
        let cert = match &p.certificate {
            Some(bytes) => match mutua_protocol::open(bytes).map(|r| r.payload().clone()) {
                Ok(Payload::Certificate(c)) => Some(c),
                _ => None,
            },
            None => None,
        };
        if ctx.out.json {
            ctx.out.json_sorted(&KeyListed {
                name: p.name.clone(),
                key: p.key.public().key_id(),
                certificate: cert.as_ref().map(|c| CertificateHeld {
                    siren: c.siren.clone(),
                    name: c.name.clone(),
                    valid_until: c.valid_until,
                    may_admit: c.may_admit,
                }),
            })?;
            continue;
        }
        let (who, until) = match &cert {
            Some(c) => (
                format!("{} ({})", c.name, c.siren),
                dates::format_date(c.valid_until),
            ),
            None => ("not admitted yet".into(), String::new()),
        };
        rows.push(vec![p.name.clone(), p.key.public().key_id(), who, until]);
    }
    if !ctx.out.json {
        if rows.is_empty() {
            ctx.out.line(
                "no publisher key: create one with `mutua key add --collectivity <SIREN|INSEE>`",
            )?;
        } else {
            ctx.out.table(
                &["publisher", "key", "certificate for", "valid until"],
                rows,
            )?;
        }
    }
    if let Some(anchor) = dir.anchor_key().context("reading the anchor key")? {
        if !ctx.out.json {
            ctx.out.line(format!("anchor key: {}", anchor.public()))?;
        }
    }
    Ok(())
}
