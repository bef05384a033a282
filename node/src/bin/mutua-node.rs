//! `mutua-node`: create a data directory, add hosted publishers, run the daemon.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mutua_node::config::{Config, LogFormat, Overrides, Settings};
use mutua_node::datadir::{self, DataDir, InitOptions};
use mutua_protocol::PublicKey;
use tracing_subscriber::EnvFilter;

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
    /// Generate the key of a new hosted collectivity (takes effect at the next start).
    AddPublisher { name: String },
    /// Run the node until SIGINT or SIGTERM.
    Run,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mutua-node: {e:#}");
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
            let settings = settings(&cli.overrides, &dir)?;
            init_logs(&settings)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(mutua_node::daemon::run(
                settings,
                dir,
                mutua_node::daemon::shutdown_signal(),
            ))?;
            Ok(())
        }
    }
}

/// Defaults < file < environment < flags.
fn settings(overrides: &Overrides, dir: &DataDir) -> Result<Settings> {
    let mut config = match &overrides.config {
        Some(path) => Config::load(path, true)?,
        None => Config::load(&dir.config_path(), false)?,
    };
    config.apply(overrides);
    Ok(config.validate()?)
}

fn init_logs(settings: &Settings) -> Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) => EnvFilter::try_new(&text).with_context(|| format!("RUST_LOG={text:?}"))?,
        Err(_) => EnvFilter::try_new(&settings.log_filter)
            .with_context(|| format!("log.filter = {:?}", settings.log_filter))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}
