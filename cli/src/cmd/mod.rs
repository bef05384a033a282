//! One module per command group; each function runs one command.

pub mod export;
pub mod federation;
pub mod import;
pub mod lending;
pub mod listings;
pub mod node;
pub mod opendata;
pub mod search;
pub mod setup;
pub mod software;
pub mod store;
pub mod web;

use std::path::PathBuf;

use anyhow::Result;
use mutua_api::{Delivery, Gossip, HostedPublisher};
use mutua_protocol::PublicKey;

use crate::args::Global;
use crate::client::Client;
use crate::output::Output;

/// A usage mistake found after parsing (exit code 2, like clap's own).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// What every command gets: where the data directory is, how to print.
pub struct Context {
    pub data_dir: PathBuf,
    pub out: Output,
}

impl Context {
    pub fn new(global: &Global) -> Result<Context> {
        let data_dir = match &global.data_dir {
            Some(dir) => dir.clone(),
            None => mutua_node::datadir::default_path()?,
        };
        Ok(Context {
            data_dir,
            out: Output { json: global.json },
        })
    }

    pub fn client(&self) -> Result<Client> {
        Client::connect(&self.data_dir)
    }

    /// The running node, or its replica on disk when it is stopped.
    pub fn reader(&self) -> Result<Client> {
        Client::connect_or_replica(&self.data_dir)
    }
}

/// The collectivities this node hosts: from `GET /v1/status`, or the key
/// files of a stopped node.
#[derive(Debug)]
pub struct Hosted {
    pub publishers: Vec<HostedPublisher>,
}

impl Hosted {
    pub fn fetch(client: &Client) -> Result<Hosted> {
        if !client.is_replica() {
            let status = client.call(|api| api.status())?;
            let publishers = status
                .publishers
                .into_iter()
                .map(|p| HostedPublisher {
                    name: p.name,
                    key: p.key,
                })
                .collect();
            return Ok(Hosted { publishers });
        }
        // A stopped node: its hosted publishers are the key files.
        let dir = mutua_node::datadir::DataDir::open(client.data_dir())?;
        let publishers = dir
            .publishers()?
            .into_iter()
            .map(|p| HostedPublisher {
                key: p.key.public(),
                name: p.name,
            })
            .collect();
        Ok(Hosted { publishers })
    }

    /// The keys of the hosted publishers, or of the one named.
    pub fn keys(&self, name: Option<&str>) -> Result<Vec<PublicKey>> {
        Ok(match name {
            Some(_) => vec![self.publisher(name)?.key],
            None => self.publishers.iter().map(|p| p.key).collect(),
        })
    }

    /// The hosted publisher named `name`, or the only one.
    pub fn publisher(&self, name: Option<&str>) -> Result<&HostedPublisher> {
        let names = || {
            let all: Vec<_> = self.publishers.iter().map(|p| p.name.as_str()).collect();
            if all.is_empty() {
                "none: create one with `mutua key add --collectivity <code>`".to_owned()
            } else {
                all.join(", ")
            }
        };
        match (name, self.publishers.as_slice()) {
            (Some(name), _) => self
                .publishers
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| {
                    Usage(format!(
                        "--as {name:?}: this node hosts no such publisher (hosted: {})",
                        names()
                    ))
                    .into()
                }),
            (None, [only]) => Ok(only),
            (None, _) => Err(Usage(format!(
                "name the publishing collectivity with --as <name> (hosted: {})",
                names()
            ))
            .into()),
        }
    }
}

/// How far gossip took a record: "sent to 2 peer(s)", "no peer yet: …".
pub fn gossip_text(gossip: &Gossip) -> String {
    match gossip {
        Gossip::Report(report) => match report.delivery {
            Delivery::Sent { peers } => format!("sent to {peers} peer(s)"),
            Delivery::NoPeers => "no peer yet: it will reach the others when they connect".into(),
            Delivery::AlreadyKnown => "already known to the network".into(),
        },
        Gossip::Deferred { .. } => "stored; peers will get it when they next sync".into(),
    }
}
