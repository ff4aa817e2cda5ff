//! What is done with an accepted socket before its protocol reads it: the PROXY
//! protocol header, when one is expected, then the [`Acceptor`], which turns the
//! socket into the stream the protocol serves (the socket itself, or TLS over it).
//! Both run in the connection's own task, never in the accept loop, within the
//! header timeout. Then the protocol is chosen: HTTP/2 when TLS chose it by ALPN,
//! or when a plain connection starts with its preface; HTTP/1.x otherwise.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Timer;

use log::debug;

use super::proxy_protocol::HeaderRefusal;
use super::proxy_protocol::ProxyProtocol;
use crate::connection::{CloseReason, Protocol};
use crate::handler::Handler;
use crate::http1;
use crate::http2;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::transport::{Acceptor, Peer, Security, Socket};

/// What is done with a socket before its first request is read: its PROXY protocol
/// header is read, when one is expected, then the acceptor makes its stream.
pub struct ConnectionSetup<A> {
    /// Reads the header every TCP connection starts with, with `--proxy-protocol`.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Makes each connection's stream out of its socket.
    pub acceptor: A,
    /// HTTP/2 is spoken besides HTTP/1.x.
    pub http2: bool,
}

impl<A: Acceptor> ConnectionSetup<A> {
    /// Sets the connection up, then serves it; returns why it ended.
    pub async fn accept_and_serve<H: Handler>(
        &self,
        socket: Socket,
        peer: Peer,
        shared: Arc<Shared<H>>,
    ) -> CloseReason {
        // Awaited in a statement of its own, so that what the setup holds takes no
        // room in the task while the connection is served.
        let (stream, security, peer, protocol) = match self.set_up(socket, peer, &shared).await {
            Ok(accepted) => accepted,
            Err(reason) => return reason,
        };
        match protocol {
            Protocol::Http1 => http1::serve(stream, peer, security, shared).await,
            // Boxed: HTTP/2's connection (h2's state, its codec, the streams' set)
            // is about 6 KB, and every HTTP/1 connection's task would otherwise be
            // sized for it (8.2 KiB per waiting HTTP/1 connection instead of 2.5).
            Protocol::Http2 => Box::pin(http2::serve(stream, peer, security, shared)).await,
        }
    }

    /// Reads the PROXY header, then makes the stream, then finds its protocol: all
    /// within the header timeout, like a head. Returns the stream, what it is, who
    /// is at the other end and the protocol it speaks; or why the connection ended
    /// first.
    async fn set_up<H: Handler>(
        &self,
        mut socket: Socket,
        peer: Peer,
        shared: &Shared<H>,
    ) -> Result<(A::Stream, Security, Peer, Protocol), CloseReason> {
        let deadline = Instant::now() + shared.rules.limits.header_timeout;
        let peer = match (&self.proxy_protocol, peer) {
            (Some(proxy_protocol), Peer::Tcp(addr)) => {
                let header = proxy_protocol.read_header(&mut socket, addr);
                match shared.timeouts.run_until(Some(deadline), header).await {
                    Some(Ok(peer)) => peer,
                    Some(Err(HeaderRefusal::Truncated)) => return Err(CloseReason::ClientClosed),
                    Some(Err(_)) => return Err(CloseReason::Error),
                    None => {
                        proxy_protocol.timed_out(addr);
                        return Err(CloseReason::HeaderTimeout);
                    }
                }
            }
            (_, peer) => peer,
        };
        let plain = !(self.acceptor.https() && socket.is_tcp());
        let prior_knowledge = if self.http2 && plain {
            let preface = starts_with_http2_preface(&socket);
            match shared.timeouts.run_until(Some(deadline), preface).await {
                Some(preface) => preface,
                None => return Err(CloseReason::HeaderTimeout),
            }
        } else {
            false
        };
        let accepted = (shared.timeouts)
            .run_until(Some(deadline), self.acceptor.accept(socket, &peer))
            .await;
        match accepted {
            Some(Ok((stream, security))) => {
                let protocol = match prior_knowledge || A::chose_http2(&stream) {
                    true => Protocol::Http2,
                    false => Protocol::Http1,
                };
                Ok((stream, security, peer, protocol))
            }
            Some(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                debug!("{peer}: left before it was served: {error}");
                Err(CloseReason::ClientClosed)
            }
            Some(Err(error)) => {
                debug!("{peer}: not served: {error}");
                Err(CloseReason::Error)
            }
            None => {
                debug!("{peer}: not ready to serve within the header timeout");
                self.acceptor.timed_out();
                Err(CloseReason::HeaderTimeout)
            }
        }
    }

    /// Adds what the PROXY protocol and the acceptor count to the server's metrics.
    pub fn register_metrics(&self, metrics: &mut Metrics) {
        if let Some(proxy_protocol) = &self.proxy_protocol {
            proxy_protocol.register_metrics(metrics);
        }
        self.acceptor.register_metrics(metrics);
    }
}

/// Whether the first bytes on a plain connection are HTTP/2's preface: looked at
/// without taking them off the socket, so that whichever protocol serves it reads
/// them. Three bytes decide (`PRI` starts no HTTP/1 method but the preface's own);
/// fewer are waited for, a little at a time. A client that closes, or whose socket
/// fails, is left to HTTP/1 to find out.
async fn starts_with_http2_preface(socket: &Socket) -> bool {
    const DECIDING: usize = 3;
    let mut first = [0; DECIDING];
    loop {
        let seen = match socket.peek(&mut first).await {
            Ok(0) | Err(_) => return false,
            Ok(seen) => seen,
        };
        if !http2::PREFACE.starts_with(&first[..seen]) {
            return false;
        }
        if seen == DECIDING {
            return true;
        }
        // The socket stays readable while the bytes wait in it: peeking again at
        // once would spin.
        Timer::after(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::metrics::Metrics;
    use crate::{Config, PlainHttp, Shutdown, Toy};

    /// A socket accepted from a local client, with the client's end to keep open.
    fn accepted(listener: &TcpListener) -> (Socket, Peer, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, address) = listener.accept().unwrap();
        (Socket::tcp(socket).unwrap(), Peer::Tcp(address), client)
    }

    /// Every connection's task holds this future for the connection's life, and
    /// most connections speak HTTP/1: it must not be sized for HTTP/2's connection
    /// (which it was, 6.2 KB against 1.1, before that was boxed).
    #[test]
    fn a_connections_task_is_not_sized_for_http2() {
        let toy = Toy::new(Duration::ZERO);
        let metrics = Metrics::new(&crate::handler::route_paths::<Toy>(), 1, 1);
        let limits = Config::default().limits();
        let shared = Arc::new(Shared::new(toy, limits, metrics, None, Shutdown::new()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let setup = ConnectionSetup {
            proxy_protocol: None,
            acceptor: PlainHttp,
            http2: true,
        };
        let (socket, peer, _client) = accepted(&listener);
        let connection = setup.accept_and_serve(socket, peer, Arc::clone(&shared));
        let (socket, peer, _other) = accepted(&listener);
        let http2 = http2::serve(socket, peer, Security::Plain, Arc::clone(&shared));
        let (task, http2) = (size_of_val(&connection), size_of_val(&http2));
        assert!(task * 2 < http2, "{task} bytes, HTTP/2's {http2}");
    }
}
