//! `mutua federation …`: found, admit, revoke, list, move certificates.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use mutua_node::datadir::DataDir;
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{Certificate, Payload, PublicKey, SignedRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Context, Status, Usage};
use crate::args::{AdmitArgs, FederationCommand, Reason, RevokeArgs};
use crate::client::{Client, NodeNotRunning};
use crate::collectivity;
use crate::dates;
use crate::output::truncate;

const CERT_HEADER: &str = "# Mutua membership certificate";

pub fn run(ctx: &Context, command: FederationCommand) -> Result<()> {
    match command {
        FederationCommand::Create(a) => super::setup::create(ctx, a),
        FederationCommand::Admit(a) => admit(ctx, a),
        FederationCommand::Revoke(a) => revoke(ctx, a),
        FederationCommand::Members => members(ctx),
        FederationCommand::Export { hash, output } => export(ctx, &hash, &output),
        FederationCommand::Import { file } => import(ctx, &file),
    }
}

/// What a write endpoint answers.
#[derive(Deserialize)]
pub struct Published {
    pub record: Value,
    pub envelope: String,
    #[serde(default)]
    pub gossip: Value,
    /// The node's local warnings (`far_from_commune`…): `{code, field, message}`.
    #[serde(default)]
    pub warnings: Vec<Value>,
}

impl Published {
    /// "sent to 2 peers", "no peer yet: …".
    pub fn gossip_text(&self) -> String {
        let delivery = &self.gossip["delivery"];
        match delivery["status"].as_str() {
            Some("sent") => format!("sent to {} peer(s)", delivery["peers"]),
            Some("no_peers") => "no peer yet: it will reach the others when they connect".into(),
            Some("already_known") => "already known to the network".into(),
            _ => "stored; peers will get it when they next sync".into(),
        }
    }
}

fn admit(ctx: &Context, args: AdmitArgs) -> Result<()> {
    let client = ctx.client()?;
    let subject: PublicKey = match args.key.parse() {
        Ok(key) => key,
        Err(parse_error) => {
            let status = Status::fetch(&client)?;
            let hosted = status
                .publishers
                .iter()
                .find(|p| p.name == args.key)
                .ok_or_else(|| {
                    Usage(format!(
                        "{:?} is neither a key id ({parse_error}) nor a publisher hosted by this node",
                        args.key
                    ))
                })?;
            hosted.key.parse()?
        }
    };
    let c = collectivity::resolve(&args.collectivity)?;
    eprintln!("admitting {subject} as:");
    collectivity::confirm(&c, "issue the certificate", args.yes)?;
    let now = dates::now();
    let mut body = json!({
        "subject": subject.key_id(),
        "siren": c.siren,
        "name": c.name,
        "body": c.body,
        "insee": c.insee,
        "may_admit": args.may_admit,
    });
    if let Some(days) = args.valid_days {
        body["valid_until"] = json!(now + days * DAY_SECS);
    }
    if let Some(issuer) = &args.issuer {
        body["issuer"] = json!(issuer);
    }
    let published: Published = client.post("/v1/certificates", &body)?;
    if let Some(path) = &args.export {
        write_certificate_file(path, &hex_bytes(&published.envelope)?)?;
    }
    if ctx.out.json {
        return Ok(ctx.out.json_line(&published.record)?);
    }
    let cert = &published.record;
    ctx.out.line(format!(
        "admitted {} ({}) — certificate {}\n  valid until {}{}; {}",
        c.name,
        c.siren,
        cert["hash"].as_str().unwrap_or(""),
        cert["valid_until"]
            .as_u64()
            .map(dates::format_date)
            .unwrap_or_default(),
        if args.may_admit {
            ", may admit others"
        } else {
            ""
        },
        published.gossip_text()
    ))?;
    if let Some(path) = &args.export {
        ctx.out.line(format!(
            "  written to {}: on the member's node, run `mutua federation import {}`",
            path.display(),
            path.display()
        ))?;
    }
    Ok(())
}

fn hex_bytes(text: &str) -> Result<Vec<u8>> {
    mutua_protocol::unhex(text.trim())
        .ok_or_else(|| anyhow!("the node sent an envelope that is not hex"))
}

/// The certificate as a text file: a commented header for the person who
/// receives it, then the signed envelope in hex.
fn write_certificate_file(path: &Path, envelope: &[u8]) -> Result<()> {
    let record = mutua_protocol::open(envelope)?;
    let Payload::Certificate(c) = record.payload() else {
        bail!("that record is not a certificate");
    };
    let text = format!(
        "{CERT_HEADER}\n# collectivity: {} (SIREN {})\n# key: {}\n# issued by: {}\n# valid: {} to {}\n\
         # load it on the member's node with: mutua federation import <this file>\n{}\n",
        c.name,
        c.siren,
        c.subject,
        c.issuer,
        dates::format_date(c.valid_from),
        dates::format_date(c.valid_until),
        mutua_protocol::hex(envelope)
    );
    if path == Path::new("-") {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn read_certificate_file(path: &Path) -> Result<(SignedRecord, Certificate)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let hex: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let bytes = mutua_protocol::unhex(&hex).ok_or_else(|| {
        anyhow!(
            "{}: not a certificate file (expected hexadecimal after the # lines)",
            path.display()
        )
    })?;
    let record = mutua_protocol::open(&bytes)
        .with_context(|| format!("{}: the certificate does not verify", path.display()))?;
    match record.payload() {
        Payload::Certificate(c) => {
            let c = c.clone();
            Ok((record, c))
        }
        other => bail!(
            "{}: holds a {}, not a certificate",
            path.display(),
            other.kind_name()
        ),
    }
}

fn import(ctx: &Context, path: &Path) -> Result<()> {
    let (record, c) = read_certificate_file(path)?;
    let dir = DataDir::open(&ctx.data_dir)?;
    let hosted = dir
        .publishers()?
        .into_iter()
        .find(|p| p.key.public() == c.subject);
    if let Some(p) = &hosted {
        dir.write_certificate(&p.name, record.bytes())?;
    }
    let sent = match ctx.client() {
        Ok(client) => {
            let report: Value = client.post(
                "/v1/import",
                &json!({ "records": [mutua_protocol::hex(record.bytes())] }),
            )?;
            if let Some(e) = report["errors"].get(0) {
                bail!(
                    "the node refused the certificate: {} (rule: {})",
                    e["message"].as_str().unwrap_or(""),
                    e["code"].as_str().unwrap_or("")
                );
            }
            true
        }
        Err(e) if e.downcast_ref::<NodeNotRunning>().is_some() && hosted.is_some() => false,
        Err(e) => return Err(e),
    };
    if ctx.out.json {
        return Ok(ctx.out.json_line(&json!({
            "certificate": record.hash().to_hex(),
            "subject": c.subject.key_id(),
            "publisher": hosted.as_ref().map(|p| &p.name),
            "published": sent,
        }))?);
    }
    let whom = match &hosted {
        Some(p) => format!("publisher {} of this node", p.name),
        None => format!("key {} (not hosted here)", c.subject),
    };
    ctx.out.line(format!(
        "certificate for {} ({}) → {whom}; {}",
        c.name,
        c.siren,
        if sent {
            "published"
        } else {
            "saved: the node publishes it at its next start"
        }
    ))?;
    Ok(())
}

#[derive(Deserialize)]
struct Members {
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    certificate: Value,
    revoked: bool,
    membership: String,
}

fn fetch_members(client: &Client) -> Result<Vec<Member>> {
    Ok(client.get::<Members>("/v1/members", &[])?.members)
}

fn members(ctx: &Context) -> Result<()> {
    let members = fetch_members(&ctx.client()?)?;
    if ctx.out.json {
        for m in &members {
            ctx.out.json_line(&json!({
                "certificate": m.certificate, "revoked": m.revoked, "membership": m.membership,
            }))?;
        }
        return Ok(());
    }
    if members.is_empty() {
        return Ok(ctx
            .out
            .line("no certificate yet: admit a member with `mutua federation admit`")?);
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let rows = members
        .iter()
        .map(|m| {
            let c = &m.certificate;
            let state = if m.revoked {
                "revoked".to_owned()
            } else {
                m.membership.clone()
            };
            vec![
                truncate(&s(&c["name"]), 32),
                s(&c["siren"]),
                s(&c["body"]),
                s(&c["subject"]),
                if c["may_admit"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                c["valid_until"]
                    .as_u64()
                    .map(dates::format_date)
                    .unwrap_or_default(),
                state,
                s(&c["hash"]),
            ]
        })
        .collect();
    Ok(ctx.out.table(
        &[
            "collectivity",
            "siren",
            "kind",
            "key",
            "admits",
            "valid until",
            "state",
            "certificate",
        ],
        rows,
    )?)
}

fn revoke(ctx: &Context, args: RevokeArgs) -> Result<()> {
    let client = ctx.client()?;
    let hashes: Vec<String> = match args.target.parse::<PublicKey>() {
        Ok(key) => {
            let key = key.key_id();
            let found: Vec<String> = fetch_members(&client)?
                .into_iter()
                .filter(|m| !m.revoked && m.certificate["subject"].as_str() == Some(&key))
                .filter_map(|m| m.certificate["hash"].as_str().map(str::to_owned))
                .collect();
            if found.is_empty() {
                bail!("no unrevoked certificate names {key} (see `mutua federation members`)");
            }
            found
        }
        Err(_) if args.target.len() == 64 && mutua_protocol::unhex(&args.target).is_some() => {
            vec![args.target.to_lowercase()]
        }
        Err(e) => {
            return Err(Usage(format!(
                "{:?} is neither a certificate hash (64 hex digits) nor a key id ({e})",
                args.target
            ))
            .into())
        }
    };
    let reason = match args.reason {
        Reason::KeyLost => "key_lost",
        Reason::KeyCompromised => "key_compromised",
        Reason::Merged => "merged",
        Reason::LeftFederation => "left_federation",
        Reason::Superseded => "superseded",
        Reason::Other => "other",
    };
    for hash in hashes {
        let mut body = json!({ "reason": reason });
        if let Some(issuer) = &args.issuer {
            body["issuer"] = json!(issuer);
        }
        let published: Published =
            client.post(&format!("/v1/certificates/{hash}/revoke"), &body)?;
        if ctx.out.json {
            ctx.out.json_line(&published.record)?;
        } else {
            ctx.out.line(format!(
                "revoked certificate {hash} ({reason}); {}",
                published.gossip_text()
            ))?;
        }
    }
    Ok(())
}

fn export(ctx: &Context, hash: &str, output: &Path) -> Result<()> {
    let hash = hash.trim().to_lowercase();
    // A hosted publisher's certificate is on disk; otherwise the node's
    // replica has it.
    let dir = DataDir::at(&ctx.data_dir);
    if let Ok(publishers) = dir.publishers() {
        for p in publishers {
            if let Some(bytes) = p.certificate {
                if mutua_protocol::codec::hash_envelope(&bytes).to_hex() == hash {
                    return write_certificate_file(output, &bytes);
                }
            }
        }
    }
    let all: Value = ctx.client()?.get("/v1/export", &[])?;
    for text in all["records"].as_array().into_iter().flatten() {
        let bytes = hex_bytes(text.as_str().unwrap_or(""))?;
        if mutua_protocol::codec::hash_envelope(&bytes).to_hex() == hash {
            return write_certificate_file(output, &bytes);
        }
    }
    bail!("no certificate {hash} in this node's replica (see `mutua federation members`)")
}
