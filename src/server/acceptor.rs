//! What turns an accepted socket into the byte stream its connection is served
//! over. The plain server serves the socket itself; a stream that wraps it (TLS, or
//! a test's) is one more [`Acceptor`]. The connection layer serves whatever stream
//! comes out, and [`Acceptor::accept`] runs in the connection's own task, never in
//! the accept loop.

use std::future::Future;
use std::io;

use smol::io::{AsyncRead, AsyncWrite};

use crate::connection::{Peer, Socket};

/// Makes the stream a connection is served over out of its socket.
pub trait Acceptor: Send + Sync + 'static {
    /// The stream connections are served over.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Turns the socket of a connection from `peer` into its stream.
    fn accept(
        &self,
        socket: Socket,
        peer: Peer,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Serves each socket as it is: plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainHttp;

impl Acceptor for PlainHttp {
    type Stream = Socket;

    async fn accept(&self, socket: Socket, _: Peer) -> io::Result<Socket> {
        Ok(socket)
    }
}
