//! `mutua-node`: create a data directory, add hosted publishers, run the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mutua_node::config::{self, Overrides};
use mutua_node::datadir::{self, DataDir, InitOptions};
use mutua_protocol::PublicKey;

#[derive(Parser)]
#[command(name = "mutua-node", version, about = "The Mutua node daemon")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: node key, config.toml, and optional keys.
    Init {
        /// Federation name written to config.toml.
        #[arg(long = "federation-name", value_name = "NAME")]
        federation_name: String,
        /// Trust this anchor key id (repeatable).
        #[arg(long = "trust", value_name = "KEY_ID")]
        trust: Vec<PublicKey>,
        /// Generate an anchor key here and trust it (the federation's founder).
        #[arg(long)]
        new_anchor: bool,
        /// Generate a hosted publisher key with this name (repeatable).
        #[arg(long = "publisher", value_name = "NAME")]
        publishers: Vec<String>,
    },
    /// Generate the key of a new hosted collectivity (a running node takes it at
    /// `POST /v1/publishers/reload`, which `mutua key add` sends, or at its next start).
    AddPublisher { name: String },
    /// Run the node until SIGINT or SIGTERM.
    Run,
}

fn main() -> ExitCode {
    // Before any thread allocates (node/src/memory.rs).
    mutua_node::memory::limit_arenas();
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mutua-node: {}", mutua_node::error_text(e.chain()));
            ExitCode::FAILURE
        }
    }
}

fn data_dir(overrides: &Overrides) -> Result<PathBuf> {
    match &overrides.data_dir {
        Some(path) => Ok(path.clone()),
        None => Ok(datadir::default_path()?),
    }
}

fn real_main(cli: Cli) -> Result<()> {
    let root = data_dir(&cli.overrides)?;
    match cli.command {
        Command::Init {
            federation_name,
            trust,
            new_anchor,
            publishers,
        } => {
            let report = datadir::init(
                &root,
                &InitOptions {
                    federation: federation_name,
                    anchors: trust,
                    new_anchor,
                    publishers,
                    // `--listen` and the others, given with init, are kept.
                    network: config::NetworkChoices {
                        listen: cli.overrides.listen.clone(),
                        bootstrap: cli.overrides.bootstrap.clone(),
                        api_listen: cli.overrides.api_listen.clone(),
                        mdns: cli.overrides.mdns,
                    },
                },
            )?;
            println!("initialised {}", root.display());
            println!("peer id: {}", report.peer_id);
            if let Some(anchor) = report.anchor {
                println!("anchor key: {anchor}");
            }
            for (name, key) in report.publishers {
                println!("publisher {name}: {key}");
            }
            if !report.wrote_config {
                println!("kept the existing config.toml");
            }
            Ok(())
        }
        Command::AddPublisher { name } => {
            let key = DataDir::open(&root)?.add_publisher(&name)?;
            println!("publisher {name}: {key}");
            Ok(())
        }
        Command::Run => {
            let dir = DataDir::open(&root)?;
            let settings = config::load_settings(&cli.overrides, &dir.config_path())?;
            config::init_logs(&settings)?;
            mutua_node::daemon::run_blocking(settings, dir)?;
            Ok(())
        }
    }
}
