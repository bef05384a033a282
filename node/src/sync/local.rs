//! Reconciliation between two stores in one process, for tests and
//! benchmarks of the store-backed protocol.

use mutua_protocol::sync::{
    decode_request, decode_response, encode_request, encode_response, respond, InitiatorSession,
    SessionLimits, Step,
};
use mutua_store::Store;
use serde_bytes::ByteBuf;

use super::{LocalFailure, PeerFault, SessionError, StoreSource};

/// What [`reconcile_local`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalReport {
    /// Round trips.
    pub rounds: u32,
    /// Encoded requests and responses, as they would cross the network.
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Records the initiator received, and pushed to the responder.
    pub received: u64,
    pub pushed: u64,
}

/// Opens (verifies) records, orders them for applying and applies them.
fn apply_local(store: &Store, records: &[ByteBuf], now: u64) -> Result<(), SessionError> {
    let mut opened = records
        .iter()
        .map(|r| mutua_protocol::open(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(PeerFault::Record)?;
    mutua_protocol::sync::order_for_apply(&mut opened);
    store
        .apply_batch(opened, now)
        .map_err(LocalFailure::Store)?;
    Ok(())
}

/// Reconciles two local stores in one process, the messages encoded and
/// decoded as on the wire and every record verified and applied in order,
/// without the ingest pipeline's metrics: for tests and benchmarks of the
/// store-backed protocol. Blocking.
pub fn reconcile_local(
    initiator: &Store,
    responder: &Store,
    now: u64,
) -> Result<LocalReport, SessionError> {
    let mut report = LocalReport::default();
    let (mut session, mut request) =
        InitiatorSession::start(SessionLimits::default(), &StoreSource(initiator))?;
    loop {
        let bytes = encode_request(&request);
        report.rounds += 1;
        report.request_bytes += bytes.len() as u64;
        let received = decode_request(&bytes)?;
        report.pushed += received.push.len() as u64;
        apply_local(responder, &received.push, now)?;
        let response = respond(&received, &StoreSource(responder))?;
        let bytes = encode_response(&response);
        report.response_bytes += bytes.len() as u64;
        let response = decode_response(&bytes)?;
        let step = session.handle_response(&response, &StoreSource(initiator))?;
        report.received += response.records.len() as u64;
        apply_local(initiator, &response.records, now)?;
        match step {
            Step::Send(next) => request = next,
            Step::Done(_) => return Ok(report),
        }
    }
}
