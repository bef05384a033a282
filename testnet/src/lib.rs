//! A local federation of real `mutua` node processes: start it, drive
//! scenarios against it through the nodes' control APIs, check that every
//! replica converged, and report what happened.
//!
//! The harness never links a node into its own process: every node is a
//! separate OS process running the real daemon (`mutua_node::daemon`),
//! started by re-executing the binary given in [`TestnetOptions::bin`] with
//! a hidden `node` subcommand. Nodes talk real libp2p over TCP, either on
//! loopback or, as root with iproute2, each in its own network namespace
//! ([`net`]) so that a partition is a real one.
//!
//! Everything a run creates (processes, namespaces, links, temporary
//! directories) is registered in [`cleanup`] and removed on success, on
//! failure (drop guards) and on Ctrl-C (the binary's signal handler).

pub mod chaos;
pub mod cleanup;
pub mod demo;
mod demo_web;
mod error;
pub mod federation;
pub mod footprint;
pub mod jobs;
pub mod lending;
pub mod memory_box;
pub mod net;
pub mod node;
pub mod records;
pub mod relay;
pub mod report;
pub mod rogue;
pub mod scenario;
mod wait;

pub use error::Error;
pub use federation::{Testnet, TestnetOptions};
pub use net::NetMode;
pub use report::Report;
pub use scenario::{Scenario, ScenarioOptions};
