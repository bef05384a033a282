//! The callers' side of the network task: a [`NetworkHandle`] sends one
//! [`Command`] per call over a bounded channel ([`super::COMMAND_CAP`]) and
//! awaits its one-shot reply.

use libp2p::Multiaddr;
use tokio::sync::{mpsc, oneshot};

use super::{NetworkError, NetworkStatus, PeerInfo, PublishReport};
use crate::sync::SyncStatus;

/// A cheap, cloneable way to talk to the network task.
///
/// Every method sends one command and awaits its reply. Cancelling a call
/// (dropping its future) is safe: the command may still be carried out (a
/// publication still goes out), but its reply is dropped.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
}

impl NetworkHandle {
    pub(super) fn new(commands: mpsc::Sender<Command>) -> Self {
        NetworkHandle { commands }
    }

    /// A handle to no network: every request fails with
    /// [`NetworkError::Stopped`] (a stopped node's replica, read offline).
    pub fn detached() -> NetworkHandle {
        let (commands, _) = mpsc::channel(1);
        NetworkHandle { commands }
    }

    /// Publishes a record (its exact envelope bytes) on the federation topic.
    /// The caller stores the record first (see
    /// [`crate::ingest::Ingest::ingest_local`]); "no peers yet" is a
    /// [`super::Delivery`], not an error.
    pub async fn publish(&self, envelope: Vec<u8>) -> Result<PublishReport, NetworkError> {
        self.request(|reply| Command::Publish { envelope, reply })
            .await?
    }

    /// The peers we are connected to.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        self.request(|reply| Command::Peers { reply }).await
    }

    pub async fn status(&self) -> Result<NetworkStatus, NetworkError> {
        self.request(|reply| Command::Status { reply }).await
    }

    /// Connects to a peer; returns once the connection is established (at
    /// once if the address names a peer already connected).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.request(|reply| Command::Dial { addr, reply }).await?
    }

    /// What anti-entropy sync has done and is doing.
    pub async fn sync_status(&self) -> Result<SyncStatus, NetworkError> {
        self.request(|reply| Command::SyncStatus { reply }).await
    }

    /// Stops the network task: closes every connection and returns once the
    /// swarm is gone. Returns at once if the task has already stopped.
    pub async fn shutdown(&self) {
        let _ = self.request(|reply| Command::Shutdown { reply }).await;
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        response.await.map_err(|_| NetworkError::Stopped)
    }
}

/// One request to the actor, with where its answer goes.
pub(super) enum Command {
    Publish {
        envelope: Vec<u8>,
        reply: oneshot::Sender<Result<PublishReport, NetworkError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Status {
        reply: oneshot::Sender<NetworkStatus>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    SyncStatus {
        reply: oneshot::Sender<SyncStatus>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}
