//! The Mutua node: a daemon that joins the federation's network, publishes the
//! records of the collectivities it hosts, validates and stores everyone
//! else's, and serves a local control API.

pub mod api;
pub mod config;
pub mod daemon;
pub mod datadir;
pub mod frame_guard;
pub mod ingest;
pub mod listing_import;
pub mod local_rules;
pub mod metrics;
pub mod network;
pub mod sync;
