//! The PROXY protocol (HAProxy's specification: v1 text, v2 binary). A balancer that
//! forwards TCP connections as they are, TLS included, cannot add `X-Forwarded-For`;
//! it sends this header before any byte of the client's instead, saying whose
//! connection it is. With `--proxy-protocol`, every TCP connection must start with
//! one, from a peer in `--trusted-proxies`.
//!
//! `header` says what the first bytes are, with the `ppp` crate parsing. This module
//! reads them off the socket without taking a byte past the header (what follows is
//! the client's: a request, or a TLS ClientHello), and decides whether to believe it.

mod header;
mod metrics;

pub use header::HeaderRefusal;
#[cfg(any(test, feature = "testing"))]
pub use header::{V1_MAX_LEN, V2_MAX_PAYLOAD};

use std::fmt;
use std::net::SocketAddr;

use log::debug;

use header::{MAX_HEADER_LEN, Parsed, parse};
use metrics::ProxyProtocolMetrics;

use crate::exchange::TrustedProxies;
use crate::metrics::Metrics;
use crate::transport::{Peer, Socket};

/// Reads the header each TCP connection starts with, and believes it from trusted
/// peers only.
#[derive(Debug)]
pub struct ProxyProtocol {
    trusted: TrustedProxies,
    metrics: ProxyProtocolMetrics,
}

impl ProxyProtocol {
    /// Believes headers from `trusted` peers.
    pub fn new(trusted: TrustedProxies) -> Self {
        ProxyProtocol {
            trusted,
            metrics: ProxyProtocolMetrics::default(),
        }
    }

    /// Adds what it counts to the server's metrics.
    pub fn register_metrics(&self, metrics: &mut Metrics) {
        metrics.register_with(|registry| self.metrics.register(registry));
    }

    /// Reads the header `socket`, from `peer`, starts with, and returns the
    /// connection's peer: the client the header names, or `peer` itself for `PROXY
    /// UNKNOWN` (v1) and `LOCAL` (v2), which balancers send on their own health
    /// checks. From a peer that is not trusted, not a byte is read. A refusal is
    /// counted and logged at debug level, without anything the header claimed.
    pub async fn read_header(
        &self,
        socket: &mut Socket,
        peer: SocketAddr,
    ) -> Result<Peer, HeaderRefusal> {
        let read = if self.trusted.trusts(&Peer::Ip(peer)) {
            read_header(socket, peer).await
        } else {
            Err(Refused(
                HeaderRefusal::Untrusted,
                "the peer is not in --trusted-proxies".into(),
            ))
        };
        read.map_err(|Refused(reason, detail)| {
            self.refused(reason, peer, &detail);
            reason
        })
    }

    /// Counts a header that did not arrive within the header timeout.
    pub fn timed_out(&self, peer: SocketAddr) {
        self.refused(
            HeaderRefusal::Timeout,
            peer,
            &"not complete within the header timeout",
        );
    }

    fn refused(&self, reason: HeaderRefusal, peer: SocketAddr, detail: &dyn fmt::Display) {
        debug!(
            "{peer}: PROXY protocol header refused ({}), closed: {detail}",
            reason.label()
        );
        self.metrics.rejected(reason);
    }
}

/// Why a header was refused, and what the debug line says about it.
struct Refused(HeaderRefusal, String);

/// Reads the header: peeks at what has arrived, and takes off the socket only what
/// belongs to the header, all of it when the header is not complete yet.
async fn read_header(socket: &mut Socket, peer: SocketAddr) -> Result<Peer, Refused> {
    let mut header = vec![0; MAX_HEADER_LEN];
    let mut taken = 0;
    loop {
        let truncated = |detail| Refused(HeaderRefusal::Truncated, detail);
        let peeked = (socket.peek(&mut header[taken..]).await)
            .map_err(|error| truncated(format!("after {taken} bytes: {error}")))?;
        if peeked == 0 {
            return Err(truncated(format!("the peer closed after {taken} bytes")));
        }
        let seen = taken + peeked;
        let (end, client) = match parse(&header[..seen]) {
            Parsed::Header { len, client } => (len, Some(client)),
            Parsed::Incomplete if seen < MAX_HEADER_LEN => (seen, None),
            Parsed::Incomplete => {
                return Err(Refused(HeaderRefusal::TooLong, format!("{seen} bytes")));
            }
            Parsed::Refused(reason, detail) => return Err(Refused(reason, detail)),
        };
        (socket.take_peeked(&mut header[taken..end]))
            .map_err(|error| truncated(format!("after {taken} bytes: {error}")))?;
        taken = end;
        if let Some(client) = client {
            return Ok(match client {
                Some(client) => Peer::proxied(client, peer),
                None => Peer::Ip(peer),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;

    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// A connection to `listener` from `from`, accepted: the client's end, and the
    /// server's with its peer.
    fn connect_from(
        from: &str,
        listener: &std::net::TcpListener,
    ) -> (TcpStream, Socket, SocketAddr) {
        let client =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        client.bind(&addr(&format!("{from}:0")).into()).unwrap();
        client
            .connect(&listener.local_addr().unwrap().into())
            .unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        (client.into(), Socket::tcp(accepted).unwrap(), peer)
    }

    /// What is left on `socket` to read.
    fn unread(socket: &Socket) -> Vec<u8> {
        let mut buf = [0; 256];
        let n = smol::block_on(socket.peek(&mut buf)).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn the_header_is_believed_from_trusted_peers_only_and_nothing_past_it_is_taken() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_protocol = ProxyProtocol::new("127.0.0.1,10.0.0.0/8".parse().unwrap());
        let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n";

        let (mut client, mut socket, peer) = connect_from("127.0.0.3", &listener);
        client.write_all(&[&header[..], b"GET"].concat()).unwrap();
        let read = smol::block_on(proxy_protocol.read_header(&mut socket, peer));
        assert_eq!(read, Err(HeaderRefusal::Untrusted));
        assert_eq!(unread(&socket).len(), header.len() + 3, "nothing was read");

        // From a trusted peer, in pieces: each is taken, and the request is left.
        let (mut client, mut socket, peer) = connect_from("127.0.0.1", &listener);
        let writer = std::thread::spawn(move || {
            for piece in [&header[..6], &header[6..20], &header[20..], b"GET"] {
                client.write_all(piece).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            client
        });
        let read = smol::block_on(proxy_protocol.read_header(&mut socket, peer));
        let client = addr("192.0.2.7:40000");
        assert_eq!(read, Ok(Peer::proxied(client, peer)));
        let _client = writer.join().unwrap();
        assert_eq!(unread(&socket), b"GET");
    }
}
