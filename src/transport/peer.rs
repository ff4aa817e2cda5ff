//! Who is at the other end of a connection, and what its stream is.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// What a connection's stream is, besides its bytes: what the [`Acceptor`] made of
/// its socket.
///
/// [`Acceptor`]: crate::Acceptor
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain HTTP.
    Plain,
    /// HTTPS, over this version of TLS, as nginx names it: `TLSv1.3`, `TLSv1.2`.
    Tls(&'static str),
}

impl Security {
    /// The TLS version, over HTTPS.
    pub fn tls_version(self) -> Option<&'static str> {
        match self {
            Security::Tls(version) => Some(version),
            Security::Plain => None,
        }
    }
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A client at this address: over TCP, or over QUIC (UDP).
    Ip(SocketAddr),
    /// A TCP client whose connection a trusted proxy forwarded and named in a PROXY
    /// protocol header; shown as `CLIENT via PROXY`. Shared rather than inline, so
    /// that a `Peer` stays the size of one address in every connection.
    Proxied(Arc<Proxied>),
    /// A process on this host, over a Unix domain socket; shown as `unix`.
    Unix,
}

/// A client behind a proxy.
#[derive(Debug, PartialEq, Eq)]
pub struct Proxied {
    /// The client's address, as the PROXY header said it.
    pub client: SocketAddr,
    /// The socket's peer: the proxy.
    pub proxy: SocketAddr,
}

impl Peer {
    /// The client at `addr`, an IPv4 client on a dual-stack socket (`::ffff:a.b.c.d`)
    /// named by its IPv4 address, as it is everywhere else.
    pub fn at(addr: SocketAddr) -> Peer {
        Peer::Ip(SocketAddr::new(addr.ip().to_canonical(), addr.port()))
    }

    /// A client that `proxy` named in a PROXY protocol header.
    pub fn proxied(client: SocketAddr, proxy: SocketAddr) -> Peer {
        Peer::Proxied(Arc::new(Proxied { client, proxy }))
    }

    /// The client's IP address, for a TCP or QUIC peer: behind a PROXY protocol header, the
    /// one the header named.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Peer::Ip(addr) => Some(addr.ip()),
            Peer::Proxied(proxied) => Some(proxied.client.ip()),
            Peer::Unix => None,
        }
    }

    /// The socket's own peer: the proxy, for a client behind a PROXY protocol header.
    pub fn socket_peer(&self) -> Peer {
        match self {
            Peer::Proxied(proxied) => Peer::Ip(proxied.proxy),
            peer => peer.clone(),
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Ip(addr) => addr.fmt(f),
            Peer::Proxied(proxied) => write!(f, "{} via {}", proxied.client, proxied.proxy),
            Peer::Unix => f.write_str("unix"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_client_on_a_dual_stack_socket_is_named_by_its_ipv4_address() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        assert_eq!(Peer::at(mapped).to_string(), "127.0.0.1:5000");
        let v6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert_eq!(Peer::at(v6).to_string(), "[::1]:5000");
    }
}
