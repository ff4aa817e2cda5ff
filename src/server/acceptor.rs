//! What turns an accepted socket into the byte stream its connection is served
//! over. The plain server serves the socket itself; a stream that wraps it (TLS, or
//! a test's) is one more [`Acceptor`]. The connection layer serves whatever stream
//! comes out, and [`Acceptor::accept`] runs in the connection's own task, never in
//! the accept loop, within the header timeout.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use log::debug;
use smol::io::{AsyncRead, AsyncWrite};

use crate::connection::{self, Peer, Security, Shared, Socket};
use crate::handler::Handler;
use crate::metrics::{CloseReason, Metrics};

/// Makes the stream a connection is served over out of its socket.
pub trait Acceptor: Send + Sync + 'static {
    /// The stream connections are served over.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Turns the socket of a connection from `peer` into its stream, and says what
    /// the stream is. An error of kind `UnexpectedEof` means the client left before
    /// anything was served.
    fn accept(
        &self,
        socket: Socket,
        peer: Peer,
    ) -> impl Future<Output = io::Result<(Self::Stream, Security)>> + Send;

    /// Called when `accept` did not finish within the header timeout, and was dropped.
    fn timed_out(&self) {}

    /// Whether TCP connections are served HTTPS.
    fn https(&self) -> bool {
        false
    }

    /// Adds what the acceptor counts to the server's metrics.
    fn register_metrics(&self, _metrics: &mut Metrics) {}
}

/// Serves each socket as it is: plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainHttp;

impl Acceptor for PlainHttp {
    type Stream = Socket;

    async fn accept(&self, socket: Socket, _: Peer) -> io::Result<(Socket, Security)> {
        Ok((socket, Security::Plain))
    }
}

/// Makes the stream out of `socket` with `acceptor`, then serves it; returns why the
/// connection ended. What comes before the first request (a handshake) must be done
/// within the header timeout, like a head.
pub async fn accept_and_serve<A: Acceptor, H: Handler>(
    acceptor: &A,
    socket: Socket,
    peer: Peer,
    shared: Arc<Shared<H>>,
) -> CloseReason {
    let deadline = Instant::now() + shared.limits.header_timeout;
    let accepted = shared
        .deadlines
        .run_until(Some(deadline), acceptor.accept(socket, peer));
    // Matched in a statement of its own, so that the result takes no room in the
    // task while the connection is served.
    let (stream, security) = match accepted.await {
        Some(Ok(accepted)) => accepted,
        Some(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
            debug!("{peer}: left before it was served: {error}");
            return CloseReason::ClientClosed;
        }
        Some(Err(error)) => {
            debug!("{peer}: not served: {error}");
            return CloseReason::Error;
        }
        None => {
            debug!("{peer}: not ready to serve within the header timeout");
            acceptor.timed_out();
            return CloseReason::HeaderTimeout;
        }
    };
    connection::serve(stream, peer, security, shared).await
}
