//! What tests, the fuzzer and the benchmarks need from the library: an in-memory
//! connection, so that they can drive the connection layer without sockets, and
//! limits to run it with. Not part of the supported API.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use smol::future::FutureExt;
use smol::io::AsyncWrite;

use crate::config::Config;
use crate::connection::{AccessLog, Limits, Peer, Shared, Transport, TrustedProxies, serve};
use crate::handler::{Handler, route_paths};
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// The limits of a server started with no options.
pub fn default_limits() -> Limits {
    Config::default().limits()
}

/// A client that sends a fixed input, in pieces of chosen lengths, then closes its
/// sending side; what the server writes is collected.
///
/// Reads never wait: each returns the next piece (or as much of it as fits), and
/// end-of-stream once the input is used up.
#[derive(Debug, Default)]
pub struct MemoryStream {
    input: Vec<u8>,
    /// The lengths of the pieces the input arrives in, consumed from the back;
    /// once they run out, the rest arrives as fast as the reader asks.
    pieces: Vec<usize>,
    /// How much of the input has been read.
    position: usize,
    /// Everything the server wrote.
    output: Vec<u8>,
    /// How many writes it took.
    writes: usize,
    /// Set once the server shut down its sending side.
    write_closed: bool,
}

impl MemoryStream {
    /// A client that sends `input` in pieces of `piece_lengths` bytes; a zero length
    /// counts as one.
    pub fn new(input: Vec<u8>, piece_lengths: impl IntoIterator<Item = usize>) -> Self {
        let mut pieces: Vec<usize> = piece_lengths.into_iter().map(|n| n.max(1)).collect();
        pieces.reverse();
        MemoryStream {
            input,
            pieces,
            ..MemoryStream::default()
        }
    }

    /// What the server wrote.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// How many writes the server made.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// Whether the server shut down its sending side.
    pub fn write_closed(&self) -> bool {
        self.write_closed
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        this.output.extend_from_slice(buf);
        this.writes += 1;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for MemoryStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.write_closed = true;
        Ok(())
    }

    /// Returns the next piece (or as much of it as fits), or end-of-stream.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.input.len() - self.position;
        let piece = self.pieces.pop().unwrap_or(remaining);
        let n = piece.min(remaining).min(buf.len());
        // The unread part of a piece the buffer could not take comes next.
        if piece > n && n < remaining {
            self.pieces.push(piece - n);
        }
        buf[..n].copy_from_slice(&self.input[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }

    /// Reads never wait, so there is never anything to wait for.
    async fn readable(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A server for in-memory connections. What connections share (the handler, the
/// limits, the metrics) is built once, as a real server builds it once.
pub struct InMemoryServer<H> {
    shared: Arc<Shared<H>>,
}

impl<H: Handler> InMemoryServer<H> {
    /// A server for `handler` with `limits`.
    pub fn new(handler: H, limits: Limits) -> Self {
        let shared = Arc::new(Shared {
            handler,
            deadlines: limits.deadlines(),
            limits,
            shutdown: Shutdown::new(),
            stopping: Shutdown::new(),
            metrics: Metrics::new(&route_paths::<H>(), 1, 1),
            access_log: AccessLog::if_enabled(TrustedProxies::default()),
        });
        InMemoryServer { shared }
    }

    /// Serves one in-memory connection to its end on the current thread, and
    /// returns the stream with everything the server wrote.
    /// What every connection of this server shares.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> Arc<Shared<H>> {
        Arc::clone(&self.shared)
    }

    pub fn serve(&self, mut stream: MemoryStream) -> MemoryStream {
        let peer = Peer::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        async_io::block_on(
            async {
                serve(&mut stream, peer, Arc::clone(&self.shared)).await;
            }
            .or(self.shared.deadlines.sweep()),
        );
        stream
    }
}

/// Serves one in-memory connection to its end on a server of its own.
pub fn serve_in_memory<H: Handler>(
    handler: H,
    limits: Limits,
    stream: MemoryStream,
) -> MemoryStream {
    InMemoryServer::new(handler, limits).serve(stream)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::Toy;

    #[test]
    fn pieces_arrive_as_given_then_the_rest() {
        let mut stream = MemoryStream::new(b"abcdefgh".to_vec(), [1, 3]);
        let mut buf = [0; 4];
        let mut read = |stream: &mut MemoryStream| {
            let n = stream.try_read(&mut buf).expect("reads never fail");
            buf[..n].to_vec()
        };
        assert_eq!(read(&mut stream), b"a");
        assert_eq!(read(&mut stream), b"bcd");
        assert_eq!(read(&mut stream), b"efgh");
        assert_eq!(read(&mut stream), b"");
    }

    #[test]
    fn a_request_split_into_single_bytes_is_answered_once() {
        let request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
        let pieces = vec![1; request.len()];
        let stream = serve_in_memory(
            Toy::new(Duration::ZERO),
            default_limits(),
            MemoryStream::new(request, pieces),
        );
        let output = String::from_utf8_lossy(stream.output());
        assert!(output.starts_with("HTTP/1.1 200 OK\r\n"), "{output}");
        assert_eq!(output.matches("HTTP/1.1 ").count(), 1, "{output}");
        assert!(output.ends_with(r#"{"status":"ok"}"#), "{output}");
    }

    #[test]
    fn pipelined_answers_leave_in_one_write() {
        let request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".repeat(16);
        let stream = serve_in_memory(
            Toy::new(Duration::ZERO),
            default_limits(),
            MemoryStream::new(request, []),
        );
        let output = String::from_utf8_lossy(stream.output());
        assert_eq!(
            output.matches("HTTP/1.1 200 OK\r\n").count(),
            16,
            "{output}"
        );
        assert_eq!(stream.writes(), 1);
    }

    #[test]
    fn a_bad_request_is_answered_then_the_sending_side_closes() {
        let stream = serve_in_memory(
            Toy::new(Duration::ZERO),
            default_limits(),
            MemoryStream::new(b"GET /toy HTTP/1.1\r\n\r\n".to_vec(), []),
        );
        assert!(stream.output().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(stream.write_closed());
    }
}
