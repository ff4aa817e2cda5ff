//! What is done with an accepted socket before its protocol reads it: the PROXY
//! protocol header, when one is expected, then the [`Acceptor`], which turns the
//! socket into the stream the protocol serves (the socket itself, or TLS over it).
//! Both run in the connection's own task, never in the accept loop, within the
//! header timeout.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use log::debug;

use super::proxy_protocol::HeaderRefusal;
use super::proxy_protocol::ProxyProtocol;
use crate::connection::CloseReason;
use crate::handler::Handler;
use crate::http1;
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
        let (stream, security, peer) = match self.set_up(socket, peer, &shared).await {
            Ok(accepted) => accepted,
            Err(reason) => return reason,
        };
        http1::serve(stream, peer, security, shared).await
    }

    /// Reads the PROXY header, then makes the stream: both within the header
    /// timeout, like a head. Returns the stream, what it is, and who is at the other
    /// end; or why the connection ended first.
    async fn set_up<H: Handler>(
        &self,
        mut socket: Socket,
        peer: Peer,
        shared: &Shared<H>,
    ) -> Result<(A::Stream, Security, Peer), CloseReason> {
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
        let accepted = (shared.timeouts)
            .run_until(Some(deadline), self.acceptor.accept(socket, &peer))
            .await;
        match accepted {
            Some(Ok((stream, security))) => Ok((stream, security, peer)),
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
