//! The byte streams connections are served over.

use std::future::Future;
use std::io::{self, Read as _};
use std::net::{Shutdown as SocketShutdown, TcpStream};

use async_io::Async;
use smol::io::AsyncWrite;

/// A byte stream that connections are served over: a TCP socket, or
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

impl Transport for Async<TcpStream> {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.get_ref().shutdown(SocketShutdown::Write)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `Async` made the socket non-blocking.
        self.get_ref().read(buf)
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        // Unlike `AsyncRead::poll_read`, this waits for an event newer than the
        // call: `poll_read` would first report the event its previous wait consumed,
        // costing one more read that finds nothing, every time.
        Async::readable(self)
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
