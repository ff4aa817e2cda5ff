//! The sockets connections are served over, and who is at the other end.
//!
//! A protocol serves any byte stream (`AsyncRead + AsyncWrite`, the
//! contract `tls::TlsStream` implements over a socket too); [`Socket`] is the one the
//! server accepts.

use std::io::{self, Read as _};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_io::Async;
use rustix::net::RecvFlags;
use smol::io::{AsyncRead, AsyncWrite};

/// A connected socket, TCP or Unix. One type for both, so that the connection code
/// exists once in the binary; each call branches on the kind.
#[derive(Debug)]
pub struct Socket {
    kind: Kind,
    /// The last read found the socket empty: the next read waits for readiness
    /// first, and costs no system call until the socket is readable again.
    drained: bool,
}

#[derive(Debug)]
enum Kind {
    Tcp(Async<TcpStream>),
    Unix(Async<UnixStream>),
}

impl Socket {
    /// A TCP connection, registered with the reactor.
    pub fn tcp(stream: TcpStream) -> io::Result<Self> {
        Ok(Socket::new(Kind::Tcp(Async::new(stream)?)))
    }

    /// A Unix domain socket connection, registered with the reactor.
    pub fn unix(stream: UnixStream) -> io::Result<Self> {
        Ok(Socket::new(Kind::Unix(Async::new(stream)?)))
    }

    fn new(kind: Kind) -> Self {
        Socket {
            kind,
            drained: false,
        }
    }

    /// Reads what has arrived without waiting (`Async` made the socket non-blocking).
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.kind {
            Kind::Tcp(stream) => stream.get_ref().read(buf),
            Kind::Unix(stream) => stream.get_ref().read(buf),
        }
    }

    /// `poll_readable` keeps the task's waker registered when the wait is given up
    /// (a handler answered first): the next wait for the same connection finds it
    /// in place and costs no `epoll_ctl`. `Async::readable` would take its waker out
    /// when dropped and register it again: three `epoll_ctl` per `/toy` request
    /// instead of one.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.kind {
            Kind::Tcp(stream) => stream.poll_readable(cx),
            Kind::Unix(stream) => stream.poll_readable(cx),
        }
    }

    /// Whether this is a TCP connection (a Unix socket is not).
    pub fn is_tcp(&self) -> bool {
        matches!(self.kind, Kind::Tcp(_))
    }

    /// Waits until bytes have arrived, and copies what has into `buf` without taking
    /// it off the socket: how many bytes, 0 at end-of-stream. The PROXY protocol
    /// header and HTTP/2's preface are read this way, so that not a byte past them
    /// is taken.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let peek = |fd: BorrowedFd<'_>, buf: &mut [u8]| {
            let (n, _) = rustix::net::recv(fd, buf, RecvFlags::PEEK)?;
            Ok(n)
        };
        match &self.kind {
            Kind::Tcp(stream) => stream.read_with(|s| peek(s.as_fd(), &mut *buf)).await,
            Kind::Unix(stream) => stream.read_with(|s| peek(s.as_fd(), &mut *buf)).await,
        }
    }

    /// Takes the bytes a [`peek`](Socket::peek) has just shown off the socket, into
    /// `buf` (all of it): they have arrived, so this does not wait.
    pub fn take_peeked(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut taken = 0;
        while taken < buf.len() {
            match self.try_read(&mut buf[taken..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => taken += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match &self.kind {
            Kind::Tcp(stream) => stream.get_ref().shutdown(Shutdown::Write),
            Kind::Unix(stream) => stream.get_ref().shutdown(Shutdown::Write),
        }
    }
}

impl AsyncRead for Socket {
    /// Reads what has arrived, or waits for readiness. A read that returns fewer
    /// bytes than asked for has emptied the socket, so the next one waits for
    /// readiness before it asks the kernel again; the socket reports each readiness
    /// once, so nothing is missed.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.drained {
                match self.try_read(buf) {
                    Ok(n) => {
                        self.drained = n < buf.len();
                        return Poll::Ready(Ok(n));
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        self.drained = true;
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => return Poll::Ready(Err(error)),
                }
            }
            ready!(self.poll_readable(cx))?;
            self.drained = false;
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.kind {
            Kind::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Kind::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    /// One `writev`: TLS hands over each record of a flight as its own buffer, and
    /// writes them with one call (the alert after a failed handshake included).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.kind {
            Kind::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Kind::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the kernel; there is nothing to flush.
        Poll::Ready(Ok(()))
    }

    /// Closes the sending side, so that the peer reads end-of-stream after what was
    /// written, while reading goes on. (async-io's own `poll_close` only flushes.)
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}
