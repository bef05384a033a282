//! `mutua federation …`: found, admit, revoke, list, move certificates.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use mutua_api::{ImportRequest, Member, Record};
use mutua_node::datadir::DataDir;
use mutua_protocol::{Certificate, Payload, PublicKey, RecordHash, SignedRecord};
use serde::Serialize;

use super::{gossip_text, Context, Hosted, Usage};
use crate::args::{AdmitArgs, FederationCommand, RevokeArgs};
use crate::client::{Client, NodeNotRunning};
use crate::collectivity;
use crate::dates;
use crate::output::{json_name, truncate};

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

fn admit(ctx: &Context, args: AdmitArgs) -> Result<()> {
    let client = ctx.client()?;
    let subject: PublicKey = match args.key.parse() {
        Ok(key) => key,
        Err(parse_error) => {
            let hosted = Hosted::fetch(&client)?;
            let publisher = hosted
                .publishers
                .iter()
                .find(|p| p.name == args.key)
                .ok_or_else(|| {
                    Usage(format!(
                        "{:?} is neither a key id ({parse_error}) nor a publisher hosted by this node",
                        args.key
                    ))
                })?;
            publisher.key
        }
    };
    let c = collectivity::resolve(&args.collectivity)?;
    eprintln!("admitting {subject} as:");
    collectivity::confirm(&c, "issue the certificate", args.yes)?;
    let now = dates::now();
    let request = args.request(subject, &c, now);
    let published = client.call(|api| api.issue(&request))?;
    if let Some(path) = &args.export {
        write_certificate_file(path, &hex_bytes(&published.envelope)?)?;
    }
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&published.record)?);
    }
    let Record::Certificate(cert) = &published.record else {
        bail!("the node answered with a record that is not a certificate");
    };
    ctx.out.line(format!(
        "admitted {} ({}) — certificate {}\n  valid until {}{}; {}",
        c.name,
        c.siren,
        cert.hash.to_hex(),
        dates::format_date(cert.valid_until),
        if args.may_admit {
            ", may admit others"
        } else {
            ""
        },
        gossip_text(&published.gossip)
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
            let request = ImportRequest {
                records: vec![mutua_protocol::hex(record.bytes())],
            };
            let report = client.call(|api| api.import(&request))?;
            if let Some(e) = report.errors.first() {
                bail!(
                    "the node refused the certificate: {} (rule: {})",
                    e.message,
                    e.code
                );
            }
            true
        }
        Err(e) if e.downcast_ref::<NodeNotRunning>().is_some() && hosted.is_some() => false,
        Err(e) => return Err(e),
    };
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(&CertificateImported {
            certificate: record.hash().to_hex(),
            subject: c.subject.key_id(),
            publisher: hosted.as_ref().map(|p| p.name.clone()),
            published: sent,
        })?);
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

/// `federation import --json`.
#[derive(Serialize)]
struct CertificateImported {
    certificate: String,
    subject: String,
    publisher: Option<String>,
    published: bool,
}

fn fetch_members(client: &Client) -> Result<Vec<Member>> {
    Ok(client.call(|api| api.members())?.members)
}

fn members(ctx: &Context) -> Result<()> {
    let members = fetch_members(&ctx.client()?)?;
    if ctx.out.json {
        for m in &members {
            ctx.out.json_sorted(m)?;
        }
        return Ok(());
    }
    if members.is_empty() {
        return Ok(ctx
            .out
            .line("no certificate yet: admit a member with `mutua federation admit`")?);
    }
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
                truncate(&c.name, 32),
                c.siren.clone(),
                json_name(&c.body),
                c.subject.key_id(),
                if c.may_admit { "yes" } else { "no" }.into(),
                dates::format_date(c.valid_until),
                state,
                c.hash.to_hex(),
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
    let hashes: Vec<RecordHash> = match args.target.parse::<PublicKey>() {
        Ok(key) => {
            let found: Vec<RecordHash> = fetch_members(&client)?
                .into_iter()
                .filter(|m| !m.revoked && m.certificate.subject == key)
                .map(|m| m.certificate.hash)
                .collect();
            if found.is_empty() {
                bail!("no unrevoked certificate names {key} (see `mutua federation members`)");
            }
            found
        }
        Err(e) => match parse_hash(&args.target) {
            Some(hash) => vec![hash],
            None => {
                return Err(Usage(format!(
                    "{:?} is neither a certificate hash (64 hex digits) nor a key id ({e})",
                    args.target
                ))
                .into())
            }
        },
    };
    let reason_name = args.reason.protocol().1;
    let request = args.request();
    for hash in hashes {
        let published = client.call(|api| api.revoke(&hash, &request))?;
        if ctx.out.json {
            ctx.out.json_sorted(&published.record)?;
        } else {
            ctx.out.line(format!(
                "revoked certificate {} ({reason_name}); {}",
                hash.to_hex(),
                gossip_text(&published.gossip)
            ))?;
        }
    }
    Ok(())
}

/// A certificate hash: 64 hex digits, either case.
fn parse_hash(text: &str) -> Option<RecordHash> {
    let bytes: [u8; 32] = mutua_protocol::unhex(text)?.try_into().ok()?;
    Some(mutua_protocol::FixedBytes(bytes))
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
    let all = ctx.client()?.call(|api| api.export())?;
    for text in &all.records {
        let bytes = hex_bytes(text)?;
        if mutua_protocol::codec::hash_envelope(&bytes).to_hex() == hash {
            return write_certificate_file(output, &bytes);
        }
    }
    bail!("no certificate {hash} in this node's replica (see `mutua federation members`)")
}
