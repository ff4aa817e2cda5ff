//! The stream a connection of an HTTPS server is served over: TLS, or the socket
//! itself (a Unix socket, or a client that spoke plain HTTP to be told so).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_rustls::server::TlsStream;
use smol::io::{AsyncRead, AsyncWrite};

use crate::connection::Socket;

/// A socket, with or without TLS. The TLS session is boxed: it is large, and a
/// connection without one does not carry its room.
#[derive(Debug)]
pub enum MaybeTls {
    /// The socket itself.
    Plain(Socket),
    /// TLS over the socket.
    Tls(Box<TlsStream<Socket>>),
}

impl AsyncRead for MaybeTls {
    /// Over TLS, a client that closes without close_notify, as most HTTP clients
    /// do, has closed: HTTP's own framing tells a request cut short.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(socket) => Pin::new(socket).poll_read(cx, buf),
            MaybeTls::Tls(stream) => match Pin::new(stream.as_mut()).poll_read(cx, buf) {
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(0))
                }
                polled => polled,
            },
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(socket) => Pin::new(socket).poll_write(cx, buf),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(socket) => Pin::new(socket).poll_flush(cx),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    /// Over TLS, sends close_notify first.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(socket) => Pin::new(socket).poll_close(cx),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_close(cx),
        }
    }
}
