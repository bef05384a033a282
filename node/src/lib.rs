//! The Mutua node: a daemon that joins the federation's network, publishes the
//! records of the collectivities it hosts, validates and stores everyone
//! else's, and serves a local control API.

pub mod api;
pub mod config;
pub mod daemon;
pub mod datadir;
pub mod frame_guard;
pub mod hosted;
pub mod ingest;
pub mod lending;
pub mod listen;
pub mod listing_import;
pub mod local_rules;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod offline;
pub mod opendata;
pub mod sync;
pub mod visible;
pub mod web;

/// An error and its causes as one line, each cause once: a message that
/// already ends with its cause's text (`"…: {source}"`) does not get it again.
pub fn error_text<'a>(
    mut chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut text = chain.next().map(ToString::to_string).unwrap_or_default();
    for cause in chain {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
