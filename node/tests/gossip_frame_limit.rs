//! Gossipsub RPC frames written by hand, by a test peer over real libp2p
//! (TCP, noise, yamux, multistream-select) to a real node:
//! - one frame of 8 valid ~4.9 KB records (~39 KB, over the frame limit, as
//!   js-libp2p answers an IWANT for 8 ids) is counted, the peer is
//!   disconnected and penalised, and records from honest paths still arrive;
//! - the same 8 records in 8 frames are all stored;
//! - a rejected record costs its sender -10 (P4 counted once), even when the
//!   sender advertises it again with IHAVE.

mod network_support;

use libp2p::futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::{PeerId, Stream, StreamProtocol};
use mutua_node::net::{MAX_FRAME_BYTES, MAX_IWANT_IDS, MAX_MESSAGE_BYTES};
use mutua_protocol::codec::{encode_envelope, hash_envelope};
use mutua_protocol::SignedRecord;
use network_support::{client_swarm_as, wait_for, Federation, TestNode, DEADLINE};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const GOSSIPSUB: StreamProtocol = StreamProtocol::new("/meshsub/1.1.0");

fn varint(n: usize) -> Vec<u8> {
    unsigned_varint::encode::usize(n, &mut unsigned_varint::encode::usize_buffer()).to_vec()
}

/// A length-delimited protobuf field.
fn field(number: usize, body: &[u8]) -> Vec<u8> {
    [varint(number << 3 | 2), varint(body.len()), body.to_vec()].concat()
}

/// An RPC frame (length prefixed) publishing `records`: `Rpc.publish` (2) of
/// `Message { data (2), topic (4) }`.
fn publish_frame(topic: &str, records: &[&SignedRecord]) -> Vec<u8> {
    let rpc: Vec<u8> = records
        .iter()
        .flat_map(|r| {
            field(
                2,
                &[field(2, r.bytes()), field(4, topic.as_bytes())].concat(),
            )
        })
        .collect();
    [varint(rpc.len()), rpc].concat()
}

/// An RPC frame advertising `ids`: `Rpc.control` (3) `{ ihave (1): { topic
/// (1), message_ids (2) } }`.
fn ihave_frame(topic: &str, ids: &[Vec<u8>]) -> Vec<u8> {
    let ihave = [
        field(1, topic.as_bytes()),
        ids.iter().flat_map(|id| field(2, id)).collect(),
    ]
    .concat();
    let rpc = field(3, &field(1, &ihave));
    [varint(rpc.len()), rpc].concat()
}

/// The length-delimited fields of a protobuf message (others skipped).
fn fields(mut buf: &[u8]) -> Vec<(usize, &[u8])> {
    fn take_varint(buf: &mut &[u8]) -> usize {
        let mut value = 0;
        for shift in (0..).step_by(7) {
            let (&byte, rest) = buf.split_first().expect("a varint");
            *buf = rest;
            value |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = take_varint(&mut buf);
        match key & 7 {
            0 => {
                take_varint(&mut buf);
            }
            2 => {
                let len = take_varint(&mut buf);
                out.push((key >> 3, &buf[..len]));
                buf = &buf[len..];
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    out
}

/// The ids of every IWANT in an RPC: `control` (3) → `iwant` (2) →
/// `message_ids` (1).
fn iwant_ids(rpc: &[u8]) -> Vec<Vec<u8>> {
    fields(rpc)
        .into_iter()
        .filter(|(n, _)| *n == 3)
        .flat_map(|(_, control)| fields(control))
        .filter(|(n, _)| *n == 2)
        .flat_map(|(_, iwant)| fields(iwant))
        .filter(|(n, _)| *n == 1)
        .map(|(_, id)| id.to_vec())
        .collect()
}

/// A peer that speaks gossipsub by hand over real libp2p: it accepts the
/// node's gossipsub stream and reports the IWANT ids it reads there, and
/// writes whatever frames it is given on its own stream.
struct RawGossipPeer {
    peer_id: PeerId,
    stream: Stream,
    iwants: mpsc::Receiver<Vec<u8>>,
    task: JoinHandle<()>,
}

impl RawGossipPeer {
    async fn connect(keypair: Keypair, target: &TestNode) -> RawGossipPeer {
        let mut swarm = client_swarm_as(keypair, libp2p_stream::Behaviour::new());
        let peer_id = *swarm.local_peer_id();
        let mut control = swarm.behaviour().new_control();
        let mut incoming = control.accept(GOSSIPSUB).unwrap();
        swarm.dial(target.addr.clone()).unwrap();
        let (iwant_tx, iwants) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            let mut readers = Vec::new();
            loop {
                tokio::select! {
                    _ = swarm.select_next_some() => {}
                    Some((_, stream)) = incoming.next() => {
                        readers.push(tokio::spawn(read_iwants(stream, iwant_tx.clone())));
                    }
                }
            }
        });
        wait_for("the node to see the raw peer", || async {
            target
                .peers()
                .await
                .iter()
                .any(|p| p.peer_id == peer_id.to_string())
        })
        .await;
        let stream = tokio::time::timeout(DEADLINE, control.open_stream(target.peer_id, GOSSIPSUB))
            .await
            .unwrap()
            .unwrap();
        RawGossipPeer {
            peer_id,
            stream,
            iwants,
            task,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Whether the node has disconnected this peer.
    async fn disconnected_from(&self, target: &TestNode) -> bool {
        let peers = target.peers().await;
        !peers.iter().any(|p| p.peer_id == self.peer_id.to_string())
    }

    async fn score_at(&self, target: &TestNode) -> Option<f64> {
        let peers = target.peers().await;
        peers
            .iter()
            .find(|p| p.peer_id == self.peer_id.to_string())?
            .score
    }
}

impl Drop for RawGossipPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the node's frames and forwards the ids it asks for.
async fn read_iwants(mut stream: Stream, iwants: mpsc::Sender<Vec<u8>>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        // Every complete frame: varint length, then the RPC.
        while let Some(end) = buf.iter().position(|b| b & 0x80 == 0) {
            let len = varint_value(&buf[..=end]);
            if buf.len() < end + 1 + len {
                break;
            }
            let rpc: Vec<u8> = buf.drain(..end + 1 + len).skip(end + 1).collect();
            for id in iwant_ids(&rpc) {
                let _ = iwants.send(id).await;
            }
        }
    }
}

fn varint_value(prefix: &[u8]) -> usize {
    prefix
        .iter()
        .enumerate()
        .map(|(i, b)| ((b & 0x7f) as usize) << (7 * i))
        .sum()
}

fn eight_large_offers(federation: &Federation) -> Vec<SignedRecord> {
    let records: Vec<SignedRecord> = (0..8)
        .map(|i| federation.large_offer(&federation.member, 10 + i))
        .collect();
    for record in &records {
        let size = record.bytes().len();
        assert!((4_600..=5_000).contains(&size), "a record of {size} bytes");
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_frame_is_counted_and_its_sender_disconnected_and_penalised() {
    let federation = Federation::new();
    let (target, honest) = TestNode::pair(&federation).await;

    let records = eight_large_offers(&federation);
    let batch = publish_frame(&federation.topic, &records.iter().collect::<Vec<_>>());
    assert!(
        (38_000..40_000).contains(&batch.len()) && batch.len() > MAX_FRAME_BYTES,
        "{} bytes",
        batch.len()
    );
    // What the node asks for at once is answered in a frame it accepts.
    assert_eq!(MAX_IWANT_IDS, 1);

    let keypair = Keypair::generate_ed25519();
    let mut rogue = RawGossipPeer::connect(keypair.clone(), &target).await;
    // The node may close the connection before the whole frame is written.
    let _ = rogue.send(&batch).await;

    let network = &target.metrics.network;
    wait_for("the oversize frame to be counted", || async {
        network.frames_refused("too_large") == 1
    })
    .await;
    wait_for("the sender to be disconnected", || async {
        rogue.disconnected_from(&target).await
    })
    .await;
    // The frame was refused before gossipsub read any of it.
    assert!(records.iter().all(|r| !target.has_slot(r)));
    assert!(target
        .metrics
        .encode()
        .contains("mutua_network_gossip_frames_refused_total{reason=\"too_large\"} 1"));

    // Records from honest paths still arrive, both ways.
    let later = federation.offer(&federation.member, 40, 1);
    honest.publish(&later).await;
    wait_for("an honest record to reach the target", || async {
        target.has(&later)
    })
    .await;
    let reply = federation.offer(&federation.member, 41, 1);
    target.publish(&reply).await;
    wait_for("the target's record to reach the honest node", || async {
        honest.has(&reply)
    })
    .await;

    // The same peer coming back carries the penalty (one invalid record's
    // worth: -30, fading by 1.3 % every 10 s).
    drop(rogue);
    let mut rogue = RawGossipPeer::connect(keypair, &target).await;
    wait_for("the returning peer's score", || async {
        rogue.score_at(&target).await.is_some()
    })
    .await;
    let score = rogue.score_at(&target).await.unwrap();
    assert!((-31.0..-25.0).contains(&score), "score {score}");
    // Split, the same records are accepted from it.
    for record in &records {
        rogue
            .send(&publish_frame(&federation.topic, &[record]))
            .await
            .unwrap();
    }
    wait_for("the split records to be stored", || async {
        records.iter().all(|r| target.has(r))
    })
    .await;
    assert_eq!(network.frames_refused("too_large"), 1);

    drop(rogue);
    target.stop().await;
    honest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_records_in_eight_frames_are_all_stored() {
    let federation = Federation::new();
    let target = TestNode::start(&federation, vec![]).await;
    let records = eight_large_offers(&federation);

    let mut peer = RawGossipPeer::connect(Keypair::generate_ed25519(), &target).await;
    // Written back to back: the node reads them in large chunks, with one
    // frame's end and the next one's start in the same read.
    let frames: Vec<u8> = records
        .iter()
        .flat_map(|r| publish_frame(&federation.topic, &[r]))
        .collect();
    peer.send(&frames).await.unwrap();

    wait_for("the 8 records to be stored", || async {
        records.iter().all(|r| target.has(r))
    })
    .await;
    let refused = target.metrics.encode();
    assert!(
        !refused.contains("mutua_network_gossip_frames_refused_total{"),
        "{refused}"
    );
    assert!(!peer.disconnected_from(&target).await);

    drop(peer);
    target.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_costs_its_sender_one_invalid_delivery() {
    let federation = Federation::new();
    let genuine = federation.offer(&federation.member, 2, 1);
    let mut forged = genuine.bytes().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 0x01; // a signature bit
    assert_counted_once(&federation, forged, "bad_signature").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_size_limit_costs_its_sender_one_invalid_delivery() {
    let federation = Federation::new();
    // Over the record limit and the old per-message limit (17,408 bytes),
    // within a frame: gossipsub used to mark it invalid itself, without
    // remembering its id, and so asked for it again when it was advertised.
    let oversize = encode_envelope(&federation.member.public(), &vec![0xa0; 20_000], &[0; 64]);
    assert!(oversize.len() > MAX_MESSAGE_BYTES);
    assert_counted_once(&federation, oversize, "too_large").await;
}

/// A peer sends `invalid` (rejected with `code`), then advertises it with
/// IHAVE as a standard sender does with what it forwarded: the node does not
/// ask for it again (a standard sender would answer, and gossipsub count a
/// second invalid delivery: -40), and the sender's score is -10.
async fn assert_counted_once(federation: &Federation, invalid: Vec<u8>, code: &'static str) {
    let target = TestNode::start(federation, vec![]).await;
    let invalid_id = hash_envelope(&invalid).0.to_vec();
    let rpc = field(
        2,
        &[field(2, &invalid), field(4, federation.topic.as_bytes())].concat(),
    );
    let frame = [varint(rpc.len()), rpc].concat();

    let mut peer = RawGossipPeer::connect(Keypair::generate_ed25519(), &target).await;
    peer.send(&frame).await.unwrap();
    let ingest = &target.metrics.ingest;
    wait_for("the record to be rejected", || async {
        ingest.count("gossip", "rejected", code) == 1
    })
    .await;
    peer.send(&ihave_frame(
        &federation.topic,
        std::slice::from_ref(&invalid_id),
    ))
    .await
    .unwrap();
    // An id the node lacks, advertised after: once it is asked for, the
    // node has handled the IHAVE before it.
    let unknown = federation.offer(&federation.member, 3, 1);
    let unknown_id = hash_envelope(unknown.bytes()).0.to_vec();
    peer.send(&ihave_frame(
        &federation.topic,
        std::slice::from_ref(&unknown_id),
    ))
    .await
    .unwrap();
    let asked = tokio::time::timeout(DEADLINE, async {
        let mut asked = Vec::new();
        while let Some(id) = peer.iwants.recv().await {
            let done = id == unknown_id;
            asked.push(id);
            if done {
                break;
            }
        }
        asked
    })
    .await
    .unwrap();
    assert!(
        !asked.contains(&invalid_id),
        "the node asked for the rejected id"
    );
    peer.send(&publish_frame(&federation.topic, &[&unknown]))
        .await
        .unwrap();
    wait_for("the advertised record to be stored", || async {
        target.has(&unknown)
    })
    .await;

    // P4 is -10 × (invalid deliveries)²; the first delivery of `unknown`
    // earns at most +1 (P2).
    let score = peer.score_at(&target).await.unwrap();
    assert!((-10.5..=-8.5).contains(&score), "score {score}");

    drop(peer);
    target.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_just_under_the_limit_followed_by_another_is_read() {
    let federation = Federation::new();
    let target = TestNode::start(&federation, vec![]).await;
    // One message filling a frame (its record too large, so rejected), then
    // a valid record at once: gossipsub reads 8 KiB at a time and checks its
    // limit against everything buffered, the second frame's start included.
    let filler = encode_envelope(
        &federation.member.public(),
        &vec![0xa0; MAX_FRAME_BYTES - 400],
        &[0; 64],
    );
    let rpc = field(
        2,
        &[field(2, &filler), field(4, federation.topic.as_bytes())].concat(),
    );
    assert!((MAX_FRAME_BYTES - 300..=MAX_FRAME_BYTES).contains(&rpc.len()));
    let record = federation.offer(&federation.member, 5, 1);
    let frames = [
        varint(rpc.len()),
        rpc,
        publish_frame(&federation.topic, &[&record]),
    ]
    .concat();

    let mut peer = RawGossipPeer::connect(Keypair::generate_ed25519(), &target).await;
    peer.send(&frames).await.unwrap();
    wait_for("the second frame's record to be stored", || async {
        target.has(&record)
    })
    .await;
    assert_eq!(
        target
            .metrics
            .ingest
            .count("gossip", "rejected", "too_large"),
        1
    );
    assert!(!peer.disconnected_from(&target).await);

    drop(peer);
    target.stop().await;
}
