//! The stream a connection of an HTTPS server is served over: TLS, or the socket
//! itself (a Unix socket, or a client that spoke plain HTTP to be told so).
//!
//! TLS is driven through rustls' unbuffered API, so the buffers are smol-toy's: the
//! TLS bytes received and not yet decrypted, those encrypted and not yet sent, and
//! plaintext the reader has not taken. Each is freed as soon as it is empty, so a
//! connection that waits (in its handler, or idle between requests) holds its TLS
//! session and nothing else. rustls' buffered `ServerConnection` keeps a 4 KiB read
//! buffer for the connection's life.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use rustls::server::UnbufferedServerConnection;
use smol::io::{AsyncRead, AsyncWrite};

use crate::transport::Socket;
use crate::transport::scratch::poll_read_onto;

/// A socket, with or without TLS. The TLS side is boxed: it is large, and a
/// connection without it does not carry its room.
#[derive(Debug)]
pub enum MaybeTls {
    /// The socket itself.
    Plain(Socket),
    /// TLS over the socket.
    Tls(Box<TlsStream>),
}

/// A TLS session over a socket, after its handshake.
pub struct TlsStream {
    pub(super) socket: Socket,
    pub(super) session: UnbufferedServerConnection,
    /// TLS bytes received and not processed yet: part of a record.
    pub(super) incoming: Vec<u8>,
    /// TLS bytes encrypted and not written yet.
    pub(super) outgoing: Vec<u8>,
    /// Plaintext decrypted and not read yet, from `plaintext_start` on.
    pub(super) plaintext: Vec<u8>,
    pub(super) plaintext_start: usize,
    /// The client sent close_notify, or closed its side.
    pub(super) read_closed: bool,
    /// close_notify has been queued.
    pub(super) write_closed: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .field("version", &self.session.protocol_version())
            .finish_non_exhaustive()
    }
}

pub(super) fn tls_error(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl TlsStream {
    /// A session over `socket` before its handshake; `incoming` is what arrived.
    pub(super) fn new(
        socket: Socket,
        session: UnbufferedServerConnection,
        incoming: Vec<u8>,
    ) -> Self {
        TlsStream {
            socket,
            session,
            incoming,
            outgoing: Vec::new(),
            plaintext: Vec::new(),
            plaintext_start: 0,
            read_closed: false,
            write_closed: false,
        }
    }

    /// The TLS version agreed on.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session.protocol_version()
    }

    /// The protocol the handshake agreed on by ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.session.alpn_protocol()
    }

    /// Reads what has arrived on the socket onto the end of `incoming`.
    pub(super) fn poll_read_socket(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        poll_read_onto(&mut self.socket, cx, Some(&mut self.incoming))
    }

    /// Frees the buffers that hold nothing.
    pub(super) fn free_empty(&mut self) {
        for buffer in [&mut self.incoming, &mut self.outgoing] {
            if buffer.is_empty() {
                *buffer = Vec::new();
            }
        }
        if self.plaintext_start == self.plaintext.len() {
            self.plaintext = Vec::new();
            self.plaintext_start = 0;
        }
    }

    /// Copies decrypted plaintext into `buf`.
    fn take_plaintext(&mut self, buf: &mut [u8]) -> usize {
        let pending = &self.plaintext[self.plaintext_start..];
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        self.plaintext_start += n;
        self.free_empty();
        n
    }

    /// Writes `outgoing` to the socket until it is empty.
    fn poll_write_outgoing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.outgoing.is_empty() {
            let written = ready!(Pin::new(&mut self.socket).poll_write(cx, &self.outgoing))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.outgoing.drain(..written);
        }
        self.outgoing = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.plaintext_start < this.plaintext.len() {
                return Poll::Ready(Ok(this.take_plaintext(buf)));
            }
            if this.read_closed {
                return Poll::Ready(Ok(0));
            }
            if !this.incoming.is_empty() && this.decrypt()? {
                continue;
            }
            // A key update or an alert rustls wants to answer goes out first.
            ready!(this.poll_write_outgoing(cx))?;
            if this.read_closed {
                continue;
            }
            match ready!(this.poll_read_socket(cx)) {
                // The client closed without close_notify, as most HTTP clients do:
                // HTTP's own framing tells a request cut short.
                Ok(0) => this.read_closed = true,
                Ok(_) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    /// Encrypts all of `buf`, and writes what the socket takes; the rest is written
    /// by the next write or the flush.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if !this.outgoing.is_empty() {
            ready!(this.poll_write_outgoing(cx))?;
        }
        this.encrypt(buf)?;
        if let Poll::Ready(Err(error)) = this.poll_write_outgoing(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_outgoing(cx)
    }

    /// Sends close_notify, then closes the socket's sending side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            this.write_closed = true;
            this.queue_close_notify()?;
        }
        ready!(this.poll_write_outgoing(cx))?;
        Pin::new(&mut this.socket).poll_close(cx)
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(socket) => Pin::new(socket).poll_read(cx, buf),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
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
