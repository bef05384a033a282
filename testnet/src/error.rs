use std::time::Duration;

/// What went wrong while running a testnet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory of the testnet could not be created or read.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// A node's data directory could not be initialised.
    #[error("cannot initialise node {node}: {message}")]
    Init { node: usize, message: String },
    /// A node process stopped on its own; `log` is the end of its log.
    #[error("node {node} exited ({status}); last log lines:\n{log}")]
    NodeExited {
        node: usize,
        status: String,
        log: String,
    },
    /// A node's control API could not be reached.
    #[error("node {node}: {method} {path}: {message}")]
    Http {
        node: usize,
        method: &'static str,
        path: String,
        message: String,
    },
    /// A node's control API refused a request.
    #[error("node {node}: {method} {path} answered HTTP {status}: {body}")]
    Api {
        node: usize,
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    /// A condition did not hold before its deadline.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    /// Setting up or changing the namespaces failed.
    #[error("network namespaces: {0}")]
    Netns(String),
    /// The rogue client could not run.
    #[error("rogue client: {0}")]
    Rogue(String),
    /// A run ended in a state its checks forbid (a chaos invariant).
    #[error("check failed: {0}")]
    Check(String),
    /// A failed run whose data directories and logs were kept.
    #[error("{source} (data directories and logs kept in {})", dir.display())]
    Kept {
        dir: std::path::PathBuf,
        source: Box<Error>,
    },
    /// The run was stopped (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
