//! What turns an accepted socket into the byte stream its connection is served
//! over. The plain server serves the socket itself; a stream that wraps it (TLS, or
//! a test's) is one more [`Acceptor`]. A protocol serves whatever stream comes out.

use std::future::Future;
use std::io;

use smol::io::{AsyncRead, AsyncWrite};

use super::{Peer, Security, Socket};
use crate::metrics::Metrics;

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
        peer: &Peer,
    ) -> impl Future<Output = io::Result<(Self::Stream, Security)>> + Send;

    /// Called when `accept` did not finish within the header timeout, and was dropped.
    fn timed_out(&self) {}

    /// Whether TCP connections are served HTTPS.
    fn https(&self) -> bool {
        false
    }

    /// Whether the stream's TLS handshake chose HTTP/2 by ALPN. A stream the
    /// acceptor did not negotiate a protocol for says no; HTTP/2 is then known by
    /// its preface.
    fn chose_http2(_stream: &Self::Stream) -> bool {
        false
    }

    /// Stops offering HTTP/2 by ALPN (`--http2 off`).
    fn without_http2(&mut self) {}

    /// Adds what the acceptor counts to the server's metrics.
    fn register_metrics(&self, _metrics: &mut Metrics) {}
}

/// Serves each socket as it is: plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainHttp;

impl Acceptor for PlainHttp {
    type Stream = Socket;

    async fn accept(&self, socket: Socket, _: &Peer) -> io::Result<(Socket, Security)> {
        Ok((socket, Security::Plain))
    }
}
