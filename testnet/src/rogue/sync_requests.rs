//! The rogue as a sync client: it connects to its targets and opens sync
//! requests at a steady rate without waiting for the answers, as no honest
//! initiator does (one request in flight per session). The requests look
//! valid, over the whole key space (the root's fingerprint with a random
//! summary, fetches of the root or of a random range, ids of a random
//! range), with some garbage mixed in after the first half of the flood:
//! the per-peer budget is what must stop it first.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundFailure};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use mutua_node::sync::{Frame, SyncCodec, PROTOCOL};
use mutua_protocol::sync::{encode_request, Entry, Query, Request, Summary, SyncKey, SyncRange};
use mutua_protocol::FixedBytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{runtime, tcp_swarm, PacedFlood};
use crate::Error;

/// What the rogue's sync requests came to.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncFloodReport {
    pub peer_id: String,
    /// Requests handed to request-response.
    pub sent: usize,
    /// Garbage among them.
    pub garbage: usize,
    /// Requests answered.
    pub answered: usize,
    /// Requests that failed, by failure (refusals close the stream: `Io`).
    pub failed: BTreeMap<String, usize>,
    /// Requests not sent: no target connected any more.
    pub not_connected: usize,
}

/// The `n`th request: valid-looking until `garbage_from`, then one in four
/// garbage.
fn request(rng: &mut StdRng, n: u64, garbage_from: u64) -> (Vec<u8>, bool) {
    if n >= garbage_from && n.is_multiple_of(4) {
        let len = rng.gen_range(1..64);
        return ((0..len).map(|_| rng.gen()).collect(), true);
    }
    let key = SyncKey(rng.gen());
    let range = |bits: u16| SyncRange::new(&key, bits).expect("an even prefix length");
    let root = range(0);
    let query = match n % 4 {
        0 => Query::Fingerprint(
            root,
            Summary {
                count: rng.gen_range(1..1_000_000),
                tag: FixedBytes(rng.gen()),
            },
        ),
        1 => Query::Fetch(root, None),
        2 => Query::Fetch(range(2 * rng.gen_range(1..8)), None),
        _ => Query::Ids(
            range(2 * rng.gen_range(1..8)),
            (0..8)
                .map(|_| Entry {
                    slot: FixedBytes(rng.gen()),
                    id: FixedBytes(rng.gen()),
                    rank: rng.gen_range(0..8),
                })
                .collect(),
        ),
    };
    let request = Request {
        queries: vec![query],
        push: Vec::new(),
    };
    (encode_request(&request), false)
}

fn sync_swarm(
    identity: libp2p::identity::Keypair,
) -> Result<Swarm<request_response::Behaviour<SyncCodec>>, Error> {
    let behaviour = request_response::Behaviour::new(
        [(PROTOCOL, request_response::ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(10))
            .with_max_concurrent_streams(1024),
    );
    tcp_swarm(identity, behaviour)
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

fn failure_name(error: &OutboundFailure) -> String {
    let text = format!("{error:?}");
    text.split(['(', ' ']).next().unwrap_or_default().to_owned()
}

/// Connects to every target, then sends `rate` sync requests a second to
/// each for `duration` (batches every 10 ms), then lingers 2 s. Blocking.
pub fn sync_flood_at_rate(flood: PacedFlood<'_>, seed: u64) -> Result<SyncFloodReport, Error> {
    const TICK: Duration = Duration::from_millis(10);
    runtime()?.block_on(async {
        let peer_id = flood.identity.public().to_peer_id().to_string();
        let mut swarm = sync_swarm(flood.identity)?;
        let targets: Vec<PeerId> = flood.targets.iter().filter_map(peer_of).collect();
        for t in flood.targets {
            swarm
                .dial(t.clone())
                .map_err(|e| Error::Rogue(e.to_string()))?;
        }
        let deadline = Duration::from_secs(30);
        let mut connected = std::collections::HashSet::new();
        let joined = tokio::time::timeout(deadline, async {
            while connected.len() < targets.len() {
                if let SwarmEvent::ConnectionEstablished { peer_id, .. } =
                    swarm.select_next_some().await
                {
                    connected.insert(peer_id);
                }
            }
        })
        .await;
        if joined.is_err() {
            return Err(Error::Timeout {
                what: format!("{} node(s) to accept the rogue sync client", targets.len()),
                after: deadline,
            });
        }
        let mut report = SyncFloodReport {
            peer_id,
            ..SyncFloodReport::default()
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let total = flood.duration.as_secs_f64() * f64::from(flood.rate);
        let garbage_from = (total / 2.0) as u64;
        let start = tokio::time::Instant::now();
        let _ = flood.started.try_send(start.into_std());
        let mut tick = tokio::time::interval(TICK);
        let mut n: u64 = 0;
        let handle = |event: SwarmEvent<request_response::Event<Frame, Vec<u8>>>,
                      report: &mut SyncFloodReport,
                      connected: &mut std::collections::HashSet<PeerId>| {
            match event {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { .. },
                    ..
                }) => report.answered += 1,
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => *report.failed.entry(failure_name(&error)).or_default() += 1,
                SwarmEvent::ConnectionClosed {
                    peer_id,
                    num_established: 0,
                    ..
                } => {
                    connected.remove(&peer_id);
                }
                _ => {}
            }
        };
        while start.elapsed() < flood.duration {
            tokio::select! {
                _ = tick.tick() => {
                    let due = (start.elapsed().as_secs_f64() * f64::from(flood.rate)) as u64;
                    while n < due {
                        let (bytes, garbage) = request(&mut rng, n, garbage_from);
                        n += 1;
                        if connected.is_empty() {
                            report.not_connected += 1;
                            continue;
                        }
                        for peer in &connected {
                            // Never to a peer not connected: that would dial it.
                            swarm.behaviour_mut().send_request(peer, Frame::Message(bytes.clone()));
                            report.sent += 1;
                            report.garbage += usize::from(garbage);
                        }
                    }
                }
                event = swarm.select_next_some() => handle(event, &mut report, &mut connected),
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                let event = swarm.select_next_some().await;
                handle(event, &mut report, &mut connected);
            }
        })
        .await;
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::sync::decode_request;

    #[test]
    fn requests_look_valid_until_the_garbage_starts() {
        let mut rng = StdRng::seed_from_u64(1);
        for n in 0..100 {
            let (bytes, garbage) = request(&mut rng, n, 50);
            assert_eq!(garbage, n >= 50 && n.is_multiple_of(4));
            assert_eq!(decode_request(&bytes).is_ok(), !garbage, "request {n}");
        }
    }
}
