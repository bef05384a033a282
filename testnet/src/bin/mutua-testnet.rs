//! `mutua-testnet`: a local federation of real node processes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mutua_node::config::{self, Overrides};
use mutua_node::datadir::DataDir;
use mutua_node::net::GossipTuning;
use mutua_testnet::chaos::{self, ChaosOptions};
use mutua_testnet::demo::{self, DemoOptions};
use mutua_testnet::footprint::{self, FootprintOptions};
use mutua_testnet::rogue::Redial;
use mutua_testnet::scenario::{self, FloodKind, FloodRate, Scenario, ScenarioOptions};
use mutua_testnet::{cleanup, NetMode, TestnetOptions};

#[derive(Parser)]
#[command(
    name = "mutua-testnet",
    version,
    about = "Run a local federation of real Mutua nodes: a demo, or scenarios with a report"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a small demo federation, publish, search, and stay up until Ctrl-C.
    Demo {
        /// Exit after the searches.
        #[arg(long)]
        once: bool,
        #[arg(long, value_enum, default_value = "loopback")]
        net: NetMode,
        /// Keep data directories and logs.
        #[arg(long)]
        keep: bool,
    },
    /// Run a scenario and write its report.
    Run {
        #[arg(value_enum)]
        scenario: Scenario,
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Listings published over the scenario.
        #[arg(long, default_value_t = 30)]
        records: usize,
        #[arg(long, value_enum, default_value = "auto")]
        net: NetMode,
        /// Keep data directories and logs.
        #[arg(long)]
        keep: bool,
        /// Propagation: seconds the converged federation is left idle to
        /// measure its background traffic (0: not measured).
        #[arg(long, default_value_t = 30)]
        idle_secs: u64,
        /// Propagation: fail the run when a traffic budget is exceeded (at
        /// most 3.5 bytes received per unique byte while publishing, idle
        /// at most 50 B/s per connection); without it they are printed.
        #[arg(long)]
        budgets: bool,
        /// The nodes' anti-entropy interval (the node's default is 300).
        #[arg(long, default_value_t = 2)]
        sync_interval_secs: u64,
        /// Chaos: how many runs (each a new federation, seed + run).
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Chaos: runs at once, each its own federation and subnet (the
        /// report still lists every run in seed order).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Flood: the rogue sends this many messages per second (for
        /// `--secs`) instead of one burst.
        #[arg(long)]
        rate: Option<u32>,
        /// Flood at rate: how long the rogue floods.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Flood at rate: what the rogue sends.
        #[arg(long, value_enum, default_value = "invalid")]
        kind: FloodKind,
        /// Flood at rate: once cut off, the rogue reconnects in a loop,
        /// under the same peer id or a fresh one each time.
        #[arg(long, value_enum)]
        redial: Option<Redial>,
        #[command(flatten)]
        gossip: GossipArgs,
        /// JSON report path [default: target/testnet-reports/<scenario>-n<N>-s<seed>.json].
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// One node holding `--records` listings, restarted, queried and written
    /// to: its memory (RSS, RssAnon) opened, after the queries and after the
    /// applies, and a `SUMMARY {json}` line (issue 16).
    Footprint {
        /// The node binary, run as `<bin> node` [default: this binary; an
        /// operator's node is `mutua`].
        #[arg(long)]
        bin: Option<PathBuf>,
        /// Listings published one per call before the restart.
        #[arg(long, default_value_t = 1000)]
        records: usize,
        /// A data directory already holding the listings (copied; `--records`
        /// ignored), e.g. one saved by `--save`.
        #[arg(long)]
        prepared: Option<PathBuf>,
        /// Save the loaded data directory there (stopped) for `--prepared`.
        #[arg(long)]
        save: Option<PathBuf>,
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        /// New listings published one per call after the queries.
        #[arg(long, default_value_t = 500)]
        applies: usize,
        /// Seconds between the end of the applies and the last point.
        #[arg(long, default_value_t = 12)]
        settle_secs: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run the node in a memory cgroup of this many MiB, its page cache
        /// included (root or a delegated cgroup): does it fit that box?
        #[arg(long)]
        memory_limit_mib: Option<u64>,
    },
    /// Run one node (what the testnet starts for each node).
    #[command(hide = true)]
    Node {
        #[command(flatten)]
        overrides: Overrides,
    },
}

/// Gossipsub settings for every node (unset: the node's defaults), so that
/// variants run side by side from one binary.
#[derive(clap::Args)]
struct GossipArgs {
    /// Mesh degree D.
    #[arg(long)]
    mesh_n: Option<usize>,
    /// D_lo.
    #[arg(long)]
    mesh_n_low: Option<usize>,
    /// D_hi.
    #[arg(long)]
    mesh_n_high: Option<usize>,
    /// D_out.
    #[arg(long)]
    mesh_outbound_min: Option<usize>,
    /// D_lazy: peers outside the mesh sent IHAVE each heartbeat, at least.
    #[arg(long)]
    gossip_lazy: Option<usize>,
    /// Share of the peers outside the mesh sent IHAVE, if more than D_lazy.
    #[arg(long)]
    gossip_factor: Option<f64>,
    #[arg(long)]
    heartbeat_ms: Option<u64>,
}

impl GossipArgs {
    fn tuning(&self) -> Result<GossipTuning> {
        let mut t = GossipTuning::default();
        let set = |target: &mut usize, v: Option<usize>| *target = v.unwrap_or(*target);
        set(&mut t.mesh_n, self.mesh_n);
        set(&mut t.mesh_n_low, self.mesh_n_low);
        set(&mut t.mesh_n_high, self.mesh_n_high);
        set(&mut t.mesh_outbound_min, self.mesh_outbound_min);
        set(&mut t.gossip_lazy, self.gossip_lazy);
        t.gossip_factor = self.gossip_factor.unwrap_or(t.gossip_factor);
        t.heartbeat_ms = self.heartbeat_ms.unwrap_or(t.heartbeat_ms);
        t.check()
            .map_err(|e| anyhow::anyhow!("gossipsub settings: {e}"))?;
        Ok(t)
    }
}

fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn main() -> ExitCode {
    // As `mutua` does: the testnet's nodes are this binary.
    mutua_node::memory::limit_arenas();
    match real_main(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mutua-testnet: {}", mutua_node::error_text(e.chain()));
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Node { overrides } => {
            let root = overrides
                .data_dir
                .clone()
                .context("--data-dir is required")?;
            let dir = DataDir::open(&root)?;
            let settings = config::load_settings(&overrides, &dir.config_path())?;
            config::init_logs(&settings)?;
            mutua_node::daemon::run_blocking(settings, dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Footprint {
            bin,
            records,
            prepared,
            save,
            queries,
            applies,
            settle_secs,
            seed,
            memory_limit_mib,
        } => {
            cleanup::install_signal_handler()?;
            let options = FootprintOptions {
                bin: bin.map_or_else(std::env::current_exe, Ok)?,
                records,
                prepared,
                save,
                queries,
                applies,
                settle: Duration::from_secs(settle_secs),
                seed,
                memory_limit_mib,
            };
            println!("{}", footprint::run(&options)?.summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { once, net, keep } => {
            cleanup::install_signal_handler()?;
            let options = DemoOptions {
                bin: std::env::current_exe()?,
                net,
                keep,
                once,
            };
            demo::run(&options, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenario,
            nodes,
            seed,
            records,
            net,
            keep,
            report,
            idle_secs,
            budgets,
            sync_interval_secs,
            runs,
            jobs,
            rate,
            secs,
            kind,
            redial,
            gossip,
        } => {
            let gossip = gossip.tuning()?;
            cleanup::install_signal_handler()?;
            let path = report.unwrap_or_else(|| {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| PathBuf::from("target"), PathBuf::from);
                target
                    .join("testnet-reports")
                    .join(format!("{}-n{nodes}-s{seed}.json", scenario.name()))
            });
            if scenario == Scenario::Chaos {
                let options = ChaosOptions {
                    bin: std::env::current_exe()?,
                    nodes,
                    runs,
                    seed,
                    sync_interval_secs,
                    jobs,
                };
                let report = chaos::run(&options, |run| {
                    print!("{}", chaos::ChaosReport::line(run));
                })?;
                print!("{}", report.totals());
                write_json(&path, &report)?;
                println!("  report: {}", path.display());
                return Ok(if report.all_passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let mut testnet = TestnetOptions::new(std::env::current_exe()?, nodes, seed);
            testnet.net = net;
            testnet.keep = keep;
            testnet.sync_interval_secs = sync_interval_secs;
            testnet.gossip = gossip;
            if scenario == Scenario::Lending {
                let report = mutua_testnet::lending::run(&testnet)?;
                print!("{}", report.summary());
                write_json(&path, &report)?;
                println!("  report: {}", path.display());
                return Ok(if report.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let flood_rate = rate.map(|rate| FloodRate {
                kind,
                rate,
                secs,
                budgets: true,
                redial,
            });
            let options = ScenarioOptions {
                testnet,
                scenario,
                records,
                report_path: Some(path.clone()),
                idle: Duration::from_secs(idle_secs),
                budgets,
            };
            let report = scenario::run_with(&options, flood_rate)?;
            print!("{}", report.summary());
            println!("  report: {}", path.display());
            Ok(if report.converged && report.error.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
