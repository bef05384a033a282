//! A rogue sync client: a bare libp2p client that speaks `/mutua/sync/3.0.0`
//! with frames of its own making (garbage, an oversized length, a request
//! over the protocol's limits) against a real node (TCP, sled). Each rogue
//! is cut off and refused when it comes back; the node keeps working: an
//! honest node that joins afterwards catches up by sync.

mod network_support;

use std::io;
use std::time::Duration;

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm};
use mutua_node::sync::PROTOCOL;
use mutua_protocol::sync::{
    encode_request, Entry, Query, Request, SyncRange, MAX_IDS, MAX_MESSAGE_BYTES,
};
use mutua_protocol::FixedBytes;
use network_support::{client_swarm, metric_value, wait_for, Federation, TestNode, DEADLINE};

/// Writes a request's bytes as given (the test makes the frame) and reads
/// whatever comes back.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Vec<u8>> {
        Err(io::Error::other("the rogue answers nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io.take(2 * MAX_MESSAGE_BYTES as u64)
            .read_to_end(&mut out)
            .await?;
        if out.is_empty() {
            // The node closed the stream without a word.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(out)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&request).await?;
        io.flush().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Ok(())
    }
}

fn rogue_swarm() -> Swarm<request_response::Behaviour<RawCodec>> {
    client_swarm(request_response::Behaviour::new(
        [(PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
    ))
}

/// What became of the rogue's request.
#[derive(Debug, PartialEq)]
enum Fate {
    /// The node answered (it should not have).
    Answered,
    /// The request failed or the connection was closed or refused.
    CutOff,
}

/// Connects to `target` and sends `frame` as a sync request.
async fn send(
    swarm: &mut Swarm<request_response::Behaviour<RawCodec>>,
    target: &Multiaddr,
    frame: Vec<u8>,
) -> Fate {
    swarm.dial(target.clone()).unwrap();
    let mut frame = Some(frame);
    let outcome = tokio::time::timeout(DEADLINE, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    if let Some(frame) = frame.take() {
                        swarm.behaviour_mut().send_request(&peer_id, frame);
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::Message { .. }) => {
                    return Fate::Answered
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. })
                | SwarmEvent::OutgoingConnectionError { .. } => return Fate::CutOff,
                SwarmEvent::ConnectionClosed {
                    num_established: 0, ..
                } => return Fate::CutOff,
                _ => {}
            }
        }
    })
    .await;
    outcome.expect("the rogue's request ended")
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_sync_clients_are_cut_off_and_the_node_keeps_working() {
    let federation = Federation::new();
    let node = TestNode::start(&federation, vec![]).await;
    for id in 0..3 {
        let offer = federation.offer(&federation.member, id, 1);
        node.ingest.ingest_local(offer).await.unwrap();
    }

    let too_many_ids = encode_request(&Request {
        queries: vec![Query::Ids(
            SyncRange::ROOT,
            (0..=MAX_IDS as u8)
                .map(|i| Entry {
                    slot: FixedBytes([i; 8]),
                    id: FixedBytes([i; 8]),
                    rank: 0,
                })
                .collect(),
        )],
        push: Vec::new(),
    });
    let mut oversized = ((MAX_MESSAGE_BYTES + 1) as u32).to_be_bytes().to_vec();
    oversized.extend_from_slice(&[0xa5; 4096]);
    let attacks = [
        ("garbage", framed(b"\xff\x00 this is not CBOR at all")),
        ("an oversized length", oversized),
        (
            "a request over the protocol's limits",
            framed(&too_many_ids),
        ),
    ];
    for (round, (what, frame)) in attacks.into_iter().enumerate() {
        let mut rogue = rogue_swarm();
        let rogue_id = *rogue.local_peer_id();
        assert_eq!(
            send(&mut rogue, &node.addr, frame).await,
            Fate::CutOff,
            "{what}"
        );
        wait_for(
            &format!("the node to cut off the sender of {what}"),
            || async {
                let bans =
                    metric_value(&node.metrics.encode(), "mutua_network_sync_bans_total", "");
                bans >= (round + 1) as f64
            },
        )
        .await;
        // Back with an honest-looking request: refused while banned.
        let honest = framed(&encode_request(&Request::default()));
        assert_eq!(
            send(&mut rogue, &node.addr, honest).await,
            Fate::CutOff,
            "{what}"
        );
        // The refused connection leaves the peer list when its close is
        // processed, which a loaded machine may delay.
        wait_for(
            &format!("the sender of {what} to leave the peers"),
            || async {
                let peers = node.peers().await;
                peers.iter().all(|p| p.peer_id != rogue_id.to_string())
            },
        )
        .await;
    }

    // The node still serves: an honest node joins and catches up by sync.
    let honest = TestNode::start(&federation, vec![node.addr.clone()]).await;
    wait_for("the honest node to catch up", || async {
        honest.ingest.store().digest().unwrap() == node.ingest.store().digest().unwrap()
    })
    .await;
    // The session is counted when it ends, a round trip after its records
    // were applied.
    wait_for("the honest node's session to be counted", || async {
        let status = honest.handle.sync_status().await.unwrap();
        status.records_applied >= 3 && status.sessions.get("ok").copied() >= Some(1)
    })
    .await;

    honest.stop().await;
    node.stop().await;
}
