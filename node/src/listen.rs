//! Listen addresses already taken, told in one plain sentence.
//!
//! libp2p's TCP transport sets `SO_REUSEPORT` on every listening socket, so a
//! second node on the same machine and port binds without error and the
//! kernel splits incoming connections between the two: they never connect,
//! and nothing says why. Probing each fixed TCP port first with a plain
//! socket (no `SO_REUSEPORT`) finds the port taken, before libp2p binds it.

use std::net::{IpAddr, SocketAddr, TcpListener};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

/// Where the other side would change the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// The p2p address: `--listen`, `network.listen`.
    P2p,
    /// The control API: `--api-listen`, `api.listen`.
    Api,
    /// The web page: `--web-listen`, `web.listen`.
    Web,
}

/// An address another process already listens on, or that cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.setting, .addr, .cause))]
pub struct ListenError {
    pub setting: Setting,
    pub addr: String,
    /// Not a `source`: the sentence already says it, and a chain printer
    /// would repeat it.
    pub cause: std::io::Error,
}

fn describe(setting: &Setting, addr: &str, error: &std::io::Error) -> String {
    let (what, flag, key, example) = match setting {
        Setting::P2p => (
            "the p2p address",
            "--listen",
            "network.listen",
            "/ip4/0.0.0.0/tcp/4101",
        ),
        Setting::Api => (
            "the control API address",
            "--api-listen",
            "api.listen",
            "127.0.0.1:4181",
        ),
        Setting::Web => (
            "the web page address",
            "--web-listen",
            "web.listen",
            "127.0.0.1:4191",
        ),
    };
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "{what} {addr} is already in use, probably by another node on this machine: give this \
             node another one with {flag} {example} (or {key} in its config.toml)"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{what} {addr} is not an address of this machine: change {flag} (or {key} in config.toml)"
        ),
        _ => format!("cannot listen on {what} {addr} ({error}): change {flag} (or {key} in config.toml)"),
    }
}

/// The socket address of a `/ip4|ip6/…/tcp/<port>` multiaddr with a fixed
/// port; `None` for port 0 (the system picks a free one) or other shapes.
fn fixed_tcp_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut parts = addr.iter();
    let ip: IpAddr = match parts.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    match parts.next()? {
        Protocol::Tcp(port) if port != 0 => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}

/// Refuses the first p2p listen address another process holds.
pub fn check_p2p_free(listen: &[Multiaddr]) -> Result<(), ListenError> {
    for addr in listen {
        if let Some(socket) = fixed_tcp_addr(addr) {
            // Bound and dropped at once: libp2p binds it right after.
            TcpListener::bind(socket).map_err(|cause| ListenError {
                setting: Setting::P2p,
                addr: addr.to_string(),
                cause,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_taken_is_found_and_told_plainly() {
        // The reuse-port case (two real nodes) is in tests/daemon_e2e.rs.
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let taken: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
        let text = check_p2p_free(&[taken]).unwrap_err().to_string();
        assert!(
            text.contains("is already in use") && text.contains("--listen"),
            "{text}"
        );
        assert!(!text.contains("os error"), "{text}");
        let any: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        assert_eq!(fixed_tcp_addr(&any), None);
        assert!(check_p2p_free(&[any]).is_ok());
    }
}
