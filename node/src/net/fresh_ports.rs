//! Outgoing TCP connections from a fresh local port, never the listening
//! one.
//!
//! libp2p's behaviours dial with [`PortUse::Reuse`] by default, and the TCP
//! transport then binds every dial to the node's listening port (made for
//! hole punching, which Mutua does not do). Two nodes redialing each other
//! then share one 4-tuple, `A:4100 ↔ B:4100`. After a cut both sides lost
//! each other at the same moment and redial with the same backoff, so when
//! the path heals their SYNs cross: a TCP simultaneous open, one connection
//! that both ends believe they dialed, on which the upgrade (multistream
//! select, both as initiator) fails with `InvalidData` — both dials lost,
//! and the next ones, still in step, could collide again. A healed
//! partition took 9–10 s to reconnect instead of about one. From a fresh
//! port each dial is its own connection; two nodes dialing each other at
//! once get two (within the limit of two per peer).

use std::pin::Pin;
use std::task::{Context, Poll};

use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::core::Transport;
use libp2p::Multiaddr;

/// `T`, dialing every connection from a new local port.
#[derive(Debug)]
pub(super) struct FreshPorts<T>(pub T);

impl<T: Transport + Unpin> Transport for FreshPorts<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.0.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.0.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let opts = DialOpts {
            port_use: PortUse::New,
            ..opts
        };
        self.0.dial(addr, opts)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::poll_fn;
    use libp2p::core::Endpoint;
    use libp2p::tcp;
    use std::net::SocketAddr;

    /// Listens on an ephemeral loopback port; the address it got.
    async fn listen<T: Transport + Unpin>(transport: &mut T) -> Multiaddr {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        transport.listen_on(ListenerId::next(), addr).unwrap();
        loop {
            match poll_fn(|cx| Pin::new(&mut *transport).poll(cx)).await {
                TransportEvent::NewAddress { listen_addr, .. } => return listen_addr,
                _ => continue,
            }
        }
    }

    fn port(addr: &Multiaddr) -> u16 {
        addr.iter()
            .find_map(|p| match p {
                libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                _ => None,
            })
            .expect("a TCP address")
    }

    /// Dials `to` from `from` as a behaviour would (port reuse asked); the
    /// local port the connection left from.
    async fn local_port_of_a_dial<T>(from: &mut T, to: Multiaddr) -> u16
    where
        T: Transport<Output = tcp::tokio::TcpStream> + Unpin,
        T::Error: std::fmt::Debug,
    {
        let opts = DialOpts {
            role: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        };
        let stream = from.dial(to, opts).unwrap().await.unwrap();
        let local: SocketAddr = stream.0.local_addr().unwrap();
        local.port()
    }

    #[tokio::test]
    async fn a_dial_leaves_from_a_fresh_port_where_plain_tcp_reuses_the_listening_one() {
        let mut target = tcp::tokio::Transport::new(tcp::Config::default());
        let target_addr = listen(&mut target).await;
        // The harness keeps accepting while the dials below connect.
        let accepting = tokio::spawn(async move {
            loop {
                poll_fn(|cx| Pin::new(&mut target).poll(cx)).await;
            }
        });

        let mut plain = tcp::tokio::Transport::new(tcp::Config::default());
        let plain_port = port(&listen(&mut plain).await);
        assert_eq!(
            local_port_of_a_dial(&mut plain, target_addr.clone()).await,
            plain_port,
            "plain TCP dials from its listening port (the cause this wrapper removes)"
        );

        let mut fresh = FreshPorts(tcp::tokio::Transport::new(tcp::Config::default()));
        let fresh_port = port(&listen(&mut fresh).await);
        let first = local_port_of_a_dial(&mut fresh, target_addr.clone()).await;
        let second = local_port_of_a_dial(&mut fresh, target_addr).await;
        assert_ne!(first, fresh_port);
        assert_ne!(second, fresh_port);
        assert_ne!(first, second, "each dial is its own connection");
        accepting.abort();
    }
}
