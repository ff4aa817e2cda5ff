//! The byte streams connections are served over, and who is at the other end.

use std::fmt;
use std::future::Future;
use std::io::{self, Read as _};
use std::net::{IpAddr, Shutdown as SocketShutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use smol::io::AsyncWrite;

/// A byte stream that connections are served over: a TCP or Unix socket, or
/// `testing::MemoryStream` in tests and fuzzing.
pub trait Transport: AsyncWrite + Unpin {
    /// Stops sending, so that the peer reads end-of-stream after what was written,
    /// while reading goes on.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Reads what has arrived without waiting; `WouldBlock` when nothing has.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Waits until something new arrives (data, end-of-stream or an error) after a
    /// `try_read` found nothing.
    fn readable(&self) -> impl Future<Output = io::Result<()>>;
}

/// A connected socket, TCP or Unix. One type for both, so that the connection code
/// exists once in the binary; each call branches on the kind.
#[derive(Debug)]
pub enum Socket {
    /// A TCP connection.
    Tcp(Async<TcpStream>),
    /// A Unix domain socket connection.
    Unix(Async<UnixStream>),
}

impl Transport for Socket {
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.get_ref().shutdown(SocketShutdown::Write),
            Socket::Unix(stream) => stream.get_ref().shutdown(SocketShutdown::Write),
        }
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `Async` made the socket non-blocking.
        match self {
            Socket::Tcp(stream) => stream.get_ref().read(buf),
            Socket::Unix(stream) => stream.get_ref().read(buf),
        }
    }

    async fn readable(&self) -> io::Result<()> {
        // `poll_readable` keeps the task's waker registered when the wait is given
        // up (a handler answered first): the next wait for the same connection
        // finds it in place and costs no `epoll_ctl`. `Async::readable` would take
        // its waker out when dropped and register again: three `epoll_ctl` per
        // `/toy` request instead of one. The connection reads only after a wait
        // ends, or while the socket may hold more, so no event is reported twice.
        std::future::poll_fn(|cx| match self {
            Socket::Tcp(stream) => stream.poll_readable(cx),
            Socket::Unix(stream) => stream.poll_readable(cx),
        })
        .await
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Socket::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Socket::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => Pin::new(stream).poll_close(cx),
            Socket::Unix(stream) => Pin::new(stream).poll_close(cx),
        }
    }
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client, at this address.
    Tcp(SocketAddr),
    /// A process on this host, over a Unix domain socket; shown as `unix`.
    Unix,
}

impl Peer {
    /// The client's IP address, for a TCP peer.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Peer::Tcp(addr) => Some(addr.ip()),
            Peer::Unix => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => addr.fmt(f),
            Peer::Unix => f.write_str("unix"),
        }
    }
}

/// A borrowed transport, so that a test can serve a stream and then inspect it.
impl<T: Transport + ?Sized> Transport for &mut T {
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).try_read(buf)
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        (**self).readable()
    }
}
