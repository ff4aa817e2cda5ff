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
    /// anything was served. An acceptor that serves TCP connections HTTPS
    /// ([`Acceptor::https`]) and gives one back [`Security::Plain`] says that its
    /// client spoke plain HTTP to it.
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

    /// The protocol the stream's handshake agreed on by ALPN, if it did.
    fn alpn_protocol(_stream: &Self::Stream) -> Option<&[u8]> {
        None
    }

    /// Offers these protocols by ALPN, in the server's order of preference.
    fn offer_alpn(&mut self, _protocols: &[&[u8]]) {}

    /// The TLS that QUIC's handshakes serve HTTP/3 with, if the acceptor serves
    /// HTTPS: the same certificate, reloaded with it.
    fn http3_tls(&self) -> Option<std::sync::Arc<rustls::ServerConfig>> {
        None
    }

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
