//! What is done with an accepted socket before its protocol reads it: the PROXY
//! protocol header, when one is expected, then the [`Acceptor`], which turns the
//! socket into the stream the protocol serves (the socket itself, or TLS over it),
//! then the protocol is chosen ([`protocol`]). All of it runs in the connection's
//! own task, never in the accept loop, within the header timeout.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use log::debug;

use super::protocol::{self, Choice, Chosen};
use super::proxy_protocol::HeaderRefusal;
use super::proxy_protocol::ProxyProtocol;
use crate::connection::CloseReason;
use crate::exchange::refusal::{HttpError, Refusal};
use crate::handler::Handler;
use crate::http1;
use crate::http2;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::transport::{Acceptor, Peer, Rewind, Security, Socket};

/// The answer to plain HTTP sent to a port that speaks HTTPS.
static PLAIN_HTTP_TO_TLS_PORT: HttpError = HttpError {
    refusal: Refusal::Malformed,
    detail: Cow::Borrowed("the plain HTTP request was sent to an HTTPS port: use https://"),
};

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

/// A connection set up: its stream, what the stream is, who is at the other end,
/// and the protocol it is served.
struct SetUp<S> {
    stream: Rewind<S>,
    security: Security,
    peer: Peer,
    chosen: Chosen,
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
        let SetUp {
            mut stream,
            security,
            peer,
            chosen,
        } = match self.set_up(socket, peer, &shared).await {
            Ok(set_up) => set_up,
            Err(reason) => return reason,
        };
        match chosen {
            Chosen::Http1 => http1::serve(stream, peer, security, shared, None).await,
            Chosen::PlainToTlsPort => {
                // As nginx and Go's net/http do, without waiting for the request.
                let refusal = Some(&PLAIN_HTTP_TO_TLS_PORT);
                http1::serve(stream, peer, security, shared, refusal).await
            }
            // Boxed: HTTP/2's connection (h2's state, its codec, the streams' set)
            // is several times HTTP/1's, and every HTTP/1 connection's task would
            // otherwise be sized for it (the test below checks that it is not).
            Chosen::Http2 => Box::pin(http2::serve(stream, peer, security, shared)).await,
            Chosen::BrokenPreface => {
                debug!("{peer}: not the HTTP/2 preface");
                http2::refuse_preface(&mut stream, &shared.metrics).await
            }
            Chosen::Closed => CloseReason::ClientClosed,
        }
    }

    /// Reads the PROXY header, then makes the stream, then chooses its protocol:
    /// all within the header timeout, like a head. Returns the connection set up,
    /// or why it ended first.
    async fn set_up<H: Handler>(
        &self,
        mut socket: Socket,
        peer: Peer,
        shared: &Shared<H>,
    ) -> Result<SetUp<A::Stream>, CloseReason> {
        let deadline = Instant::now() + shared.rules.limits.header_timeout;
        let peer = match (&self.proxy_protocol, peer) {
            (Some(proxy_protocol), Peer::Ip(addr)) => {
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
        let tls_port = self.acceptor.https() && socket.is_tcp();
        let (stream, security) = self.accept(socket, &peer, deadline, shared).await?;
        let choice = match (security, self.http2) {
            (Security::Plain, _) if tls_port => Choice::PlainToTlsPort,
            (Security::Tls(_), _) => Choice::by_alpn(A::alpn_protocol(&stream)),
            (Security::Plain, true) => Choice::Preface,
            (Security::Plain, false) => Choice::Http1,
        };
        let chosen = protocol::choose(choice, stream);
        match shared.timeouts.run_until(Some(deadline), chosen).await {
            Some(Ok((chosen, stream))) => Ok(SetUp {
                stream,
                security,
                peer,
                chosen,
            }),
            Some(Err(error)) => {
                debug!("{peer}: failed before its first request: {error}");
                Err(CloseReason::Error)
            }
            None => Err(CloseReason::HeaderTimeout),
        }
    }

    /// Makes the connection's stream, by `deadline`.
    async fn accept<H>(
        &self,
        socket: Socket,
        peer: &Peer,
        deadline: Instant,
        shared: &Shared<H>,
    ) -> Result<(A::Stream, Security), CloseReason> {
        let accepted = (shared.timeouts)
            .run_until(Some(deadline), self.acceptor.accept(socket, peer))
            .await;
        match accepted {
            Some(Ok(accepted)) => Ok(accepted),
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

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;
    use crate::metrics::Metrics;
    use crate::{Config, PlainHttp, Shutdown, Toy};

    /// A socket accepted from a local client, with the client's end to keep open.
    fn accepted(listener: &TcpListener) -> (Socket, Peer, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, address) = listener.accept().unwrap();
        (Socket::tcp(socket).unwrap(), Peer::Ip(address), client)
    }

    /// Every connection's task holds this future for the connection's life, and
    /// most connections speak HTTP/1: it must not be sized for HTTP/2's connection
    /// (which it was before that was boxed).
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
