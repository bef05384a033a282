//! A misbehaving peer: a bare libp2p client (gossipsub only, no validation
//! of its own) joins the federation topic next to a real node and publishes
//! a record by a non-member, a forged record, a record over the size limit
//! and a message of twice that size. None of them is stored or
//! forwarded to a third, honest node; each is counted by reason; the sender's
//! score drops; and honest records still propagate afterwards.

mod network_support;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use mutua_protocol::codec::{encode_envelope, hash_envelope, MAX_RECORD_BYTES};
use mutua_protocol::SignedRecord;
use network_support::{client_swarm, metric_value, wait_for, Federation, TestNode, DEADLINE};
use tokio::sync::oneshot;

/// A client that speaks gossipsub and nothing else, and publishes whatever
/// it is given. Anonymous messages with content ids, like a node's, so that
/// the node's own checks are what stop them.
fn attacker_swarm() -> Swarm<gossipsub::Behaviour> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::None)
        .message_id_fn(|message| MessageId::new(&hash_envelope(&message.data).0))
        .max_transmit_size(64 * 1024)
        .build()
        .unwrap();
    client_swarm(gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).unwrap())
}

/// Connects to `target`, waits until it is subscribed to `topic`, publishes
/// `messages`, then keeps the connection alive until the task is aborted.
/// Reports its peer id once everything is sent.
async fn attack(
    mut swarm: Swarm<gossipsub::Behaviour>,
    target: Multiaddr,
    topic: String,
    messages: Vec<Vec<u8>>,
    sent: oneshot::Sender<PeerId>,
) {
    let topic = IdentTopic::new(topic);
    swarm.behaviour_mut().subscribe(&topic).unwrap();
    swarm.dial(target).unwrap();
    let mut messages = Some(messages);
    let mut sent = Some(sent);
    loop {
        let event = swarm.select_next_some().await;
        if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. }) = event {
            if t == topic.hash() {
                for message in messages.take().into_iter().flatten() {
                    swarm
                        .behaviour_mut()
                        .publish(topic.clone(), message)
                        .unwrap();
                }
                if let Some(sent) = sent.take() {
                    let _ = sent.send(*swarm.local_peer_id());
                }
            }
        }
    }
}

fn forged(record: &SignedRecord) -> Vec<u8> {
    let mut bytes = record.bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // a signature bit: still canonical CBOR
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_peer_is_contained() {
    let federation = Federation::new();
    let (target, honest) = TestNode::pair(&federation).await;

    let by_outsider = federation.offer(&federation.outsider, 1, 1);
    let genuine = federation.offer(&federation.member, 2, 1);
    let forged = forged(&genuine);
    // Over the record limit but within a gossipsub message: the node decodes
    // nothing of it and rejects it as too large.
    let oversize = encode_envelope(
        &federation.member.public(),
        &vec![0xa0; MAX_RECORD_BYTES],
        &[0; 64],
    );
    assert!(
        oversize.len() > MAX_RECORD_BYTES && oversize.len() < mutua_node::net::MAX_MESSAGE_BYTES
    );
    // Twice the record limit, within a frame: still judged by the node
    // (too_large), so that gossipsub remembers its id and does not ask for
    // it again.
    let huge = vec![0x84; 2 * MAX_RECORD_BYTES];

    let (sent_tx, sent_rx) = oneshot::channel();
    let attacker = tokio::spawn(attack(
        attacker_swarm(),
        target.addr.clone(),
        federation.topic.clone(),
        vec![by_outsider.bytes().to_vec(), forged, oversize, huge],
        sent_tx,
    ));
    let attacker_id = tokio::time::timeout(DEADLINE, sent_rx)
        .await
        .unwrap()
        .unwrap();

    // The target validates each record and counts it by reason.
    let ingest = &target.metrics.ingest;
    wait_for("the target to judge the four records", || async {
        ingest.count("gossip", "ignored", "not_a_member") == 1
            && ingest.count("gossip", "rejected", "bad_signature") == 1
            && ingest.count("gossip", "rejected", "too_large") == 2
    })
    .await;
    assert!(!target.has_slot(&by_outsider));
    assert!(
        !target.has_slot(&genuine),
        "the forged record must not fill the genuine one's slot"
    );

    // The sender's score fell below the graylist threshold: whatever it
    // sends now is dropped unread.
    wait_for("the attacker to be graylisted", || async {
        target
            .peers()
            .await
            .iter()
            .any(|p| p.peer_id == attacker_id.to_string() && p.score.is_some_and(|s| s < -80.0))
    })
    .await;

    // An honest record published after the attack still reaches the honest
    // node. The target forwards in validation order over one stream, so had
    // it forwarded any attack message, the honest node would have seen it
    // first: it has seen exactly one gossiped record.
    let later = federation.offer(&federation.member, 3, 1);
    target.publish(&later).await;
    let gossiped = || {
        metric_value(
            &honest.metrics.encode(),
            "mutua_ingest_records_total",
            "source=\"gossip\"",
        )
    };
    // The node counts a record just after storing it: wait for the count.
    wait_for("the honest record to reach the honest node", || async {
        honest.has(&later) && gossiped() >= 1.0
    })
    .await;
    assert_eq!(gossiped(), 1.0, "{}", honest.metrics.encode());
    assert!(!honest.has_slot(&by_outsider) && !honest.has_slot(&genuine));

    // The honest node's own records still flow the other way too.
    let reply = federation.offer(&federation.member, 4, 1);
    honest.publish(&reply).await;
    wait_for("the honest node's record to reach the target", || async {
        target.has(&reply)
    })
    .await;

    attacker.abort();
    target.stop().await;
    honest.stop().await;
}
