//! A dial that never completes is abandoned after `DIAL_TIMEOUT`: a peer
//! whose TCP port answers but never speaks (or a SYN lost in a cut) does not
//! hold a dial, and the redials that wait for it, for minutes.

mod network_support;

use std::time::{Duration, Instant};

use mutua_node::net::{NetworkError, DIAL_TIMEOUT};
use network_support::{Federation, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_to_a_peer_that_never_answers_fails_after_the_dial_timeout() {
    let federation = Federation::new();
    let node = TestNode::start(&federation, vec![]).await;
    // The kernel completes the TCP handshake into the backlog; nothing ever
    // reads or writes, so the noise handshake waits for ever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let addr: libp2p::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let started = Instant::now();
    // Generous: without a dial timeout this never returns.
    let outcome = tokio::time::timeout(Duration::from_secs(60), node.handle.dial(addr)).await;
    let error = outcome
        .expect("the dial ends (no dial timeout?)")
        .unwrap_err();
    assert!(
        matches!(error, NetworkError::Dial { .. }),
        "a dial error: {error:?}"
    );
    assert!(started.elapsed() >= DIAL_TIMEOUT, "{:?}", started.elapsed());
    drop(silent);
    node.stop().await;
}
