//! Why a session ends early, and what the peer is to be blamed for. The
//! typed causes stay as sources; `label()` is the metrics label.

use std::io;
use std::time::Duration;

use libp2p::request_response::OutboundFailure;
use libp2p::PeerId;
use mutua_protocol::sync::{MessageError, SyncError};
use mutua_protocol::RecordError;
use mutua_store::StoreError;

use super::PROTOCOL;
#[cfg(doc)]
use super::{MAX_MESSAGE_BYTES, SESSION_TIMEOUT};

/// Why a sync session (or one answered request) ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer does not speak the sync protocol (another program).
    #[error("the peer does not speak {PROTOCOL}")]
    Unsupported,
    /// The session ran longer than [`SESSION_TIMEOUT`].
    #[error("the session took longer than {0:?}")]
    Timeout(Duration),
    /// The request or its response was lost (connection closed, timeout).
    #[error("the request failed: {0}")]
    Transport(#[source] OutboundFailure),
    /// The peer closed the request's stream without answering (it was busy,
    /// or this node over its budget there), or this connection had no room
    /// for one more stream: the request may be sent again a moment later.
    #[error("the request was refused: {0}")]
    Refused(#[source] OutboundFailure),
    /// The peer sent a malformed, oversized or out-of-protocol message.
    #[error("the peer broke the sync protocol: {0}")]
    Peer(#[from] PeerFault),
    /// The peer sent records that are invalid whoever sends them.
    #[error("the peer sent {0} invalid records")]
    InvalidRecords(u64),
    /// This node failed (store error, task panic, session bounds).
    #[error("local failure: {0}")]
    Local(#[from] LocalFailure),
    /// The network task stopped.
    #[error("the network task stopped")]
    Stopped,
}

impl SessionError {
    /// The metrics label of a session that ended with this error.
    pub fn label(&self) -> &'static str {
        match self {
            SessionError::Unsupported => "unsupported",
            SessionError::Timeout(_) => "timeout",
            SessionError::Transport(_) => "transport",
            SessionError::Refused(_) => "refused",
            SessionError::Peer(_) => "peer_fault",
            SessionError::InvalidRecords(_) => "invalid_records",
            SessionError::Local(_) | SessionError::Stopped => "local_error",
        }
    }

    /// The error of a failed outbound request.
    pub fn of_outbound(failure: OutboundFailure) -> SessionError {
        match failure {
            OutboundFailure::UnsupportedProtocols => SessionError::Unsupported,
            OutboundFailure::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
                SessionError::Peer(PeerFault::Frame(e))
            }
            // A refused request: its stream closed before a response (what
            // PROTOCOL.md's busy responder does), or no stream to be had here.
            OutboundFailure::Io(e)
                if e.kind() == io::ErrorKind::UnexpectedEof
                    || e.to_string().contains("max sub-streams") =>
            {
                SessionError::Refused(OutboundFailure::Io(e))
            }
            other => SessionError::Transport(other),
        }
    }
}

impl From<SyncError<StoreError>> for SessionError {
    fn from(error: SyncError<StoreError>) -> Self {
        if error.is_peer_fault() {
            SessionError::Peer(PeerFault::Session(error))
        } else {
            SessionError::Local(LocalFailure::Session(error))
        }
    }
}

impl From<MessageError> for SessionError {
    fn from(error: MessageError) -> Self {
        SessionError::Peer(PeerFault::Message(error))
    }
}

/// How this node failed during a session (nobody else to blame).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalFailure {
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The session hit its own bounds, or the store failed under it.
    #[error(transparent)]
    Session(SyncError<StoreError>),
    /// A blocking task panicked (its message).
    #[error("sync task failed: {0}")]
    Task(String),
}

/// How a peer broke the sync protocol (each one bans it): the typed error,
/// shown as is after "the peer broke the sync protocol: ".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerFault {
    /// What it sent is not a sync frame (over [`MAX_MESSAGE_BYTES`], cut short).
    #[error(transparent)]
    Frame(io::Error),
    /// A message that does not decode, or breaks the protocol's limits.
    #[error(transparent)]
    Message(MessageError),
    /// Answers that break the session's rules (too much work asked).
    #[error(transparent)]
    Session(SyncError<StoreError>),
    /// A record that does not open (bad signature, malformed).
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What a peer did wrong, for the actor to act on.
#[derive(Debug)]
pub enum Penalty {
    /// Garbage, oversized or out-of-protocol messages: cut the peer off.
    Fault(PeerId, String),
    /// Invalid records: the peer's score drops by this many records' worth.
    InvalidRecords(PeerId, u64),
}

/// What to do to the peer for the error that ended its session, if anything.
pub(super) fn penalty(peer: PeerId, error: &SessionError) -> Option<Penalty> {
    match error {
        SessionError::Peer(fault) => Some(Penalty::Fault(peer, fault.to_string())),
        SessionError::InvalidRecords(count) => Some(Penalty::InvalidRecords(peer, *count)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::codec::too_large;
    use mutua_protocol::sync::decode_request;
    use std::error::Error as _;

    #[test]
    fn a_peers_garbage_keeps_the_decoding_error_as_its_source() {
        let decoding = decode_request(b"not a sync request").unwrap_err();
        let error = SessionError::from(decoding.clone());
        assert_eq!(error.label(), "peer_fault");
        assert_eq!(
            error.to_string(),
            format!("the peer broke the sync protocol: {decoding}")
        );
        let fault = error.source().expect("the peer's fault");
        assert!(matches!(
            fault.downcast_ref::<PeerFault>(),
            Some(PeerFault::Message(e)) if *e == decoding
        ));
        // The ban's reason is the fault's text.
        let peer = PeerId::random();
        assert!(matches!(
            penalty(peer, &error),
            Some(Penalty::Fault(p, reason)) if p == peer && reason == decoding.to_string()
        ));
    }

    #[test]
    fn failed_requests_keep_their_cause() {
        let lost = SessionError::of_outbound(OutboundFailure::Timeout);
        assert_eq!(lost.label(), "transport");
        assert_eq!(
            lost.to_string(),
            format!("the request failed: {}", OutboundFailure::Timeout)
        );
        assert!(matches!(
            lost.source()
                .and_then(|s| s.downcast_ref::<OutboundFailure>()),
            Some(OutboundFailure::Timeout)
        ));
        assert!(
            penalty(PeerId::random(), &lost).is_none(),
            "nobody to blame"
        );

        // A stream closed without a response: refused, to send again.
        let refused = SessionError::of_outbound(OutboundFailure::Io(io::Error::from(
            io::ErrorKind::UnexpectedEof,
        )));
        assert_eq!(refused.label(), "refused");
        assert!(penalty(PeerId::random(), &refused).is_none());

        // A response over the limit is the peer's fault, and bans it.
        let oversized = SessionError::of_outbound(OutboundFailure::Io(too_large(1 << 30)));
        assert_eq!(oversized.label(), "peer_fault");
        assert!(matches!(
            &oversized,
            SessionError::Peer(PeerFault::Frame(e)) if e.kind() == io::ErrorKind::InvalidData
        ));
        assert!(matches!(
            penalty(PeerId::random(), &oversized),
            Some(Penalty::Fault(..))
        ));
    }
}
