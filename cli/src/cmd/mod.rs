//! One module per command group; each function runs one command.

pub mod export;
pub mod federation;
pub mod import;
pub mod listings;
pub mod node;
pub mod search;
pub mod setup;
pub mod store;

use std::path::PathBuf;

use anyhow::Result;
use serde::Deserialize;

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

/// The part of `GET /v1/status` the commands use.
#[derive(Debug, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub publishers: Vec<PublisherStatus>,
}

#[derive(Debug, Deserialize)]
pub struct PublisherStatus {
    pub name: String,
    pub key: String,
}

impl Status {
    pub fn fetch(client: &Client) -> Result<Status> {
        if !client.is_replica() {
            return client.get("/v1/status", &[]);
        }
        // A stopped node: its hosted publishers are the key files.
        let dir = mutua_node::datadir::DataDir::open(client.data_dir())?;
        let publishers = dir
            .publishers()?
            .into_iter()
            .map(|p| PublisherStatus {
                key: p.key.public().key_id(),
                name: p.name,
            })
            .collect();
        Ok(Status { publishers })
    }

    /// The hosted publisher named `name`, or the only one.
    pub fn publisher(&self, name: Option<&str>) -> Result<&PublisherStatus> {
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

/// `path?as=name` when a publisher is named.
pub fn with_as(path: &str, publisher: Option<&str>) -> String {
    match publisher {
        Some(name) => format!("{path}?as={}", crate::client::segment(name)),
        None => path.to_owned(),
    }
}
