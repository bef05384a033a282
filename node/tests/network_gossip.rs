//! Real nodes on 127.0.0.1 gossip records to each other: what one node
//! publishes is verified and stored by the others, through a relay node
//! (`spawn` in this process, sled in temporary directories). Updates
//! replace; a publication with no peers, or of a record already known, is
//! reported as such; a later dial connects; a taken listen port is refused
//! with the system's reason.

mod network_support;

use mutua_node::net::{Delivery, ListenError, NetworkError};
use network_support::{wait_for, Federation, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_record_reaches_every_node() {
    let federation = Federation::new();
    // A chain: a ← b ← c. Whether or not c also finds a through the DHT,
    // the record is stored everywhere.
    let a = TestNode::start(&federation, vec![]).await;
    let b = TestNode::start(&federation, vec![a.addr.clone()]).await;
    let c = TestNode::start(&federation, vec![b.addr.clone()]).await;
    a.wait_for_mesh(1).await;
    b.wait_for_mesh(2).await;
    c.wait_for_mesh(1).await;

    let offer = federation.offer(&federation.member, 7, 1);
    let report = a.publish(&offer).await;
    assert!(
        matches!(report.delivery, Delivery::Sent { peers } if peers >= 1),
        "{report:?}"
    );
    assert_eq!(report.message_id, mutua_protocol::hex(&offer.hash().0));
    for node in [&b, &c] {
        // The node counts a record just after storing it: wait for both.
        wait_for("the offer to be stored", || async {
            node.has(&offer) && accepted(node, "new") >= 1
        })
        .await;
        // Stored once; a node that dials a new peer (discovery) syncs with
        // it, so sync may win the race against gossip.
        assert_eq!(accepted(node, "new"), 1);
    }

    // A newer version replaces the old one everywhere; publishing it again
    // is reported, not an error.
    let update = federation.offer(&federation.member, 7, 2);
    c.publish(&update).await;
    for node in [&a, &b] {
        wait_for("the update to be stored", || async {
            node.has(&update) && accepted(node, "replaced") >= 1
        })
        .await;
        assert_eq!(accepted(node, "replaced"), 1);
    }
    assert_eq!(
        c.handle
            .publish(update.bytes().to_vec())
            .await
            .unwrap()
            .delivery,
        Delivery::AlreadyKnown
    );

    // The status and peer list describe the mesh.
    let status = b.handle.status().await.unwrap();
    assert_eq!(status.topic, federation.topic);
    assert!(
        status.connected_peers >= 2 && status.mesh_peers >= 2,
        "{status:?}"
    );
    let peers = b.peers().await;
    for node in [&a, &c] {
        let peer = peers
            .iter()
            .find(|p| p.peer_id == node.peer_id.to_string())
            .expect("a and c are b's peers");
        assert!(peer.in_mesh && peer.subscribed, "{peer:?}");
    }
    wait_for("identify to report the agent", || async {
        b.peers()
            .await
            .iter()
            .all(|p| p.agent.as_deref() == Some(mutua_node::net::AGENT_VERSION))
    })
    .await;

    // libp2p's metrics and ours are in one registry.
    let text = b.metrics.encode();
    assert!(
        text.contains("libp2p_swarm_connections_established_total"),
        "{text}"
    );
    assert!(
        text.contains(
            "mutua_ingest_records_total{source=\"gossip\",outcome=\"accepted\",reason=\"new\"} 1"
        ),
        "{text}"
    );

    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_without_peers_is_reported_and_dial_connects_later() {
    let federation = Federation::new();
    let lonely = TestNode::start(&federation, vec![]).await;
    let offer = federation.offer(&federation.member, 9, 1);
    let report = lonely.publish(&offer).await;
    assert_eq!(report.delivery, Delivery::NoPeers);
    assert!(lonely.has(&offer));

    let other = TestNode::start(&federation, vec![]).await;
    other.handle.dial(lonely.addr.clone()).await.unwrap();
    // Dialing a connected peer returns at once.
    other.handle.dial(lonely.addr.clone()).await.unwrap();
    assert!(other
        .peers()
        .await
        .iter()
        .any(|p| p.peer_id == lonely.peer_id.to_string()));
    // A dial that cannot succeed is an error.
    let nobody: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
    let refused = other.handle.dial(nobody).await.unwrap_err();
    assert!(
        matches!(
            &refused,
            NetworkError::Dial { source, .. }
                if matches!(**source, libp2p::swarm::DialError::Transport(_))
        ),
        "the transport's error is kept: {refused:?}"
    );

    let lonely_handle = lonely.handle.clone();
    lonely.stop().await;
    assert!(matches!(
        lonely_handle.status().await,
        Err(NetworkError::Stopped)
    ));
    wait_for("the stopped peer to disconnect", || async {
        other.handle.status().await.unwrap().connected_peers == 0
    })
    .await;
    other.stop().await;
}

/// Records accepted with `reason`, by gossip or by sync.
fn accepted(node: &TestNode, reason: &'static str) -> u64 {
    let count = |source| node.metrics.ingest.count(source, "accepted", reason);
    count("gossip") + count("sync")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_listen_port_is_refused_with_the_systems_reason() {
    let federation = Federation::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen: libp2p::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let Err(error) = TestNode::start_on(&federation, listen.clone(), vec![]).await else {
        panic!("a second listener on a taken port")
    };
    // libp2p's `TransportError` shows nothing for a system error (the
    // message ended with ": "): the text carries the system's reason, and
    // the error keeps it as its source.
    let NetworkError::Listen {
        addr,
        source: ListenError::Io(io),
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*addr, listen);
    assert!(io.to_string().contains("in use"), "{io:?}");
    assert_eq!(
        error.to_string(),
        format!("cannot listen on {listen}: {io}")
    );

    let unsupported: libp2p::Multiaddr = "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap();
    let Err(error) = TestNode::start_on(&federation, unsupported.clone(), vec![]).await else {
        panic!("QUIC is not a transport of the node")
    };
    assert!(
        matches!(&error, NetworkError::Listen { source: ListenError::Unsupported(a), .. } if *a == unsupported),
        "{error:?}"
    );
}
