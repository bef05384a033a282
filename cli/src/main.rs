//! `mutua`: set up and run a node, publish and query, administer a federation.
//!
//! A thin binary over the node and store crates: commands that need the
//! running node talk to its control API (address and token from the data
//! directory); `init`, `federation create`, `key`, `store` and `completions`
//! work without one.
//!
//! No `api.addr`, or no process holding the store's lock (a crash left the
//! file behind), means the node is not running: exit code 3 with how to
//! start it; `search`, `show` and `export` then read the replica on disk
//! instead (`mutua_node::offline`), saying so on stderr. Exit codes: 0 ok,
//! 1 error, 2 usage (clap's, and `cmd::Usage` for mistakes found after
//! parsing), 3 node not running. `store check|reindex|compact` refuse to
//! run while the node is up (sled admits one process).
//!
//! Certificates move between nodes as text files (a commented header, then
//! the envelope in hex): `federation admit --export` writes one,
//! `federation import` saves it beside the hosted key (re-announced at
//! every start) and publishes it if the node runs. Good spreadsheet rows go
//! one by one to `POST /v1/listings/import`, where the node matches each to
//! a slot (`mutua_node::listing_import`: the `id` column, else an id derived
//! from author, side, folded title and commune), so re-imports and
//! interrupted imports never duplicate.

mod args;
mod client;
mod cmd;
mod collectivity;
mod lending_args;
mod listing;
mod output;

// The calendar arithmetic of flags and sheets, shared with the node.
use mutua_sheet::dates;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command};
use client::NodeNotRunning;

/// Exit codes (also listed in `mutua --help`).
const EXIT_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NOT_RUNNING: u8 = 3;

fn main() -> ExitCode {
    // `mutua node` runs the daemon in this process: cap glibc's arenas
    // before any thread allocates, as `mutua-node` does (node/src/memory.rs).
    mutua_node::memory::limit_arenas();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to
            // stderr (exit 2); a closed stdout is not worth a panic.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mutua: error: {}", mutua_node::error_text(e.chain()));
            if e.downcast_ref::<NodeNotRunning>().is_some() {
                ExitCode::from(EXIT_NOT_RUNNING)
            } else if e.downcast_ref::<cmd::Usage>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_ERROR)
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = cmd::Context::new(&cli.global)?;
    match cli.command {
        Command::Init(a) => cmd::setup::init(&ctx, a),
        Command::Node(a) => cmd::node::run(&ctx, *a),
        Command::Status => cmd::node::status(&ctx),
        Command::Peers => cmd::node::peers(&ctx),
        Command::Key(a) => cmd::setup::key(&ctx, a),
        Command::Federation(a) => cmd::federation::run(&ctx, a),
        Command::Offer(a) => cmd::listings::run(&ctx, args::Side::Offer, a),
        Command::Need(a) => cmd::listings::run(&ctx, args::Side::Need, a),
        Command::Import(a) => cmd::import::run(&ctx, a),
        Command::Export(a) => cmd::export::run(&ctx, a),
        Command::Search(a) => cmd::search::search(&ctx, a),
        Command::Show(a) => cmd::search::show(&ctx, a),
        Command::Match(a) => cmd::search::matches(&ctx, a),
        Command::Lending(a) => cmd::lending::settings(&ctx, a),
        Command::Request(a) => cmd::lending::request(&ctx, a),
        Command::Requests(a) => cmd::lending::requests(&ctx, a),
        Command::Accept(a) => cmd::lending::accept(&ctx, a),
        Command::Decline(a) => cmd::lending::decline(&ctx, a),
        Command::Cancel(a) => cmd::lending::cancel(&ctx, a),
        Command::HandedOver(a) => cmd::lending::handed_over(&ctx, a),
        Command::Returned(a) => cmd::lending::returned(&ctx, a),
        Command::Web(a) => cmd::web::run(&ctx, a),
        Command::Store(a) => cmd::store::run(&ctx, a),
        Command::Catalogue(a) => cmd::software::run(&ctx, a),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mutua", &mut script);
            Ok(ctx.out.raw(&script)?)
        }
    }
}
