//! What tests, the fuzzer and the benchmarks need from the library, compiled only
//! with the `testing` feature: an in-memory connection, so that they can drive the
//! connection layer without sockets; a stream that buffers what it reads, as TLS
//! does, to serve real sockets over; and limits to run with. Not part of the
//! supported API.

// What the tests and benchmarks measure or bound, and is not the library's API.
pub use crate::http1::MAX_FIELD_LINE;
pub use crate::server::{V1_MAX_LEN, V2_MAX_PAYLOAD};
pub use crate::tls::{MaybeTls, TlsStream};

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::exchange::{AccessLog, TrustedProxies};
use crate::handler::{Handler, route_paths};
use crate::http1::serve;
use crate::metrics::Metrics;
use crate::shared::{Limits, Shared};
use crate::shutdown::Shutdown;
use crate::transport::{Acceptor, Peer, Security, Socket};

/// The limits of a server started with no options. Worked out once: the fuzzer asks
/// for every input, and `Config::default` builds and parses the command line.
pub fn default_limits() -> Limits {
    static DEFAULT_LIMITS: LazyLock<Limits> = LazyLock::new(|| Config::default().limits());
    DEFAULT_LIMITS.clone()
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
    /// Set once the server closed its sending side.
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

    /// Whether the server closed its sending side.
    pub fn write_closed(&self) -> bool {
        self.write_closed
    }
}

impl AsyncRead for MemoryStream {
    /// Returns the next piece (or as much of it as fits), or end-of-stream.
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let remaining = this.input.len() - this.position;
        let piece = this.pieces.pop().unwrap_or(remaining);
        let n = piece.min(remaining).min(buf.len());
        // The unread part of a piece the buffer could not take comes next.
        if piece > n && n < remaining {
            this.pieces.push(piece - n);
        }
        buf[..n].copy_from_slice(&this.input[this.position..this.position + n]);
        this.position += n;
        Poll::Ready(Ok(n))
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
        self.get_mut().write_closed = true;
        Poll::Ready(Ok(()))
    }
}

/// A stream that buffers what it reads, as a TLS stream holds decrypted bytes the
/// socket no longer has: it reads up to 4 KiB at a time from the stream inside, but
/// hands the caller at most 100 bytes per read. A reader that takes a short read to
/// mean the socket is drained waits forever for bytes this stream already has.
#[derive(Debug)]
pub struct SmallReads<S> {
    inner: S,
    buffer: Box<[u8; SMALL_READS_FILL]>,
    start: usize,
    end: usize,
}

/// The most bytes [`SmallReads`] reads from the stream inside at a time.
pub const SMALL_READS_FILL: usize = 4096;
/// The most bytes [`SmallReads`] hands to the caller per read.
pub const SMALL_READS_MAX: usize = 100;

impl<S> SmallReads<S> {
    /// Buffers reads from `inner`.
    pub fn new(inner: S) -> Self {
        SmallReads {
            inner,
            buffer: Box::new([0; SMALL_READS_FILL]),
            start: 0,
            end: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SmallReads<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.start == this.end {
            let filled = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.buffer[..]))?;
            (this.start, this.end) = (0, filled);
        }
        let n = (this.end - this.start).min(buf.len()).min(SMALL_READS_MAX);
        buf[..n].copy_from_slice(&this.buffer[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SmallReads<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// Serves every accepted socket through [`SmallReads`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SmallReadsAcceptor;

impl Acceptor for SmallReadsAcceptor {
    type Stream = SmallReads<Socket>;

    async fn accept(&self, socket: Socket, _: &Peer) -> io::Result<(Self::Stream, Security)> {
        Ok((SmallReads::new(socket), Security::Plain))
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
        let metrics = Metrics::new(&route_paths::<H>(), 1, 1);
        let access_log = AccessLog::if_enabled(TrustedProxies::default());
        let shared = Shared::new(handler, limits, metrics, access_log, Shutdown::new());
        InMemoryServer {
            shared: Arc::new(shared),
        }
    }

    /// Serves one in-memory connection to its end on the current thread, and
    /// returns the stream with everything the server wrote.
    pub fn serve(&self, mut stream: MemoryStream) -> MemoryStream {
        let peer = Peer::Ip(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        async_io::block_on(
            async {
                serve(
                    &mut stream,
                    peer,
                    Security::Plain,
                    Arc::clone(&self.shared),
                    None,
                )
                .await;
            }
            .or(self.shared.sweep_wheels()),
        );
        stream
    }
}

impl<H: Handler> InMemoryServer<H> {
    /// Serves one in-memory HTTP/2 connection (its input starts with the preface)
    /// to its end on the current thread, and returns the stream with everything the
    /// server wrote, and why the connection ended.
    pub fn serve_http2(&self, mut stream: MemoryStream) -> (MemoryStream, &'static str) {
        let peer = Peer::Ip(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let shared = Arc::clone(&self.shared);
        let reason = async_io::block_on(
            async { Some(crate::http2::serve(&mut stream, peer, Security::Plain, shared).await) }
                .or(async {
                    self.shared.sweep_wheels().await;
                    None
                }),
        );
        (stream, reason.map_or("-", |reason| reason.label()))
    }
}

/// HTTP/2's connection preface, which an in-memory HTTP/2 connection starts with.
pub const HTTP2_PREFACE: &[u8] = crate::http2::PREFACE;

/// Serves one in-memory connection to its end on a server of its own.
pub fn serve_in_memory<H: Handler>(
    handler: H,
    limits: Limits,
    stream: MemoryStream,
) -> MemoryStream {
    InMemoryServer::new(handler, limits).serve(stream)
}

/// The HTTP/3 frame cap of `limit` bytes read over `bytes` in pieces of the
/// lengths `pieces` say (the rest at once), and over the whole at once: whether
/// each stopped at a frame over the cap. However a stream's bytes are cut, the
/// answer must be the same.
pub fn frame_cap_verdicts(
    bytes: &[u8],
    pieces: &[usize],
    limit: u64,
    unidirectional: bool,
) -> (bool, bool) {
    use crate::http3::frame_cap::{FrameCap, StreamKind};
    let kind = match unidirectional {
        true => StreamKind::Unidirectional,
        false => StreamKind::Request,
    };
    let whole = FrameCap::new(limit, kind).read(bytes).is_err();
    let mut cap = FrameCap::new(limit, kind);
    let mut rest = bytes;
    let mut stopped = false;
    for &piece in pieces {
        let (part, tail) = rest.split_at(piece.min(rest.len()));
        rest = tail;
        stopped |= cap.read(part).is_err();
        if stopped {
            break;
        }
    }
    if !stopped {
        stopped = cap.read(rest).is_err();
    }
    (whole, stopped)
}

/// Reads a stream's request head, as HTTP/2 and HTTP/3 hand it over, by the rules
/// every stream protocol shares: the status of its refusal, if it is refused.
pub fn read_stream_head(head: &http::request::Parts) -> Option<u16> {
    let read = crate::streams::request::read(
        head,
        &mut crate::streams::request::Urls::default(),
        http_types::Version::Http3_0,
    );
    read.err().map(|refused| refused.status() as u16)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use smol::io::AsyncReadExt;

    use super::*;
    use crate::app::Toy;

    fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
        let mut buf = [0; 4096];
        let n = smol::block_on(stream.read(&mut buf)).expect("reads never fail");
        buf[..n].to_vec()
    }

    #[test]
    fn pieces_arrive_as_given_then_the_rest() {
        let mut stream = MemoryStream::new(b"abcdefgh".to_vec(), [1, 3]);
        assert_eq!(read(&mut stream), b"a");
        assert_eq!(read(&mut stream), b"bcd");
        assert_eq!(read(&mut stream), b"efgh");
        assert_eq!(read(&mut stream), b"");
    }

    #[test]
    fn small_reads_hand_out_at_most_100_bytes_of_what_they_buffered() {
        let input: Vec<u8> = (0..250u8).collect();
        let mut stream = SmallReads::new(MemoryStream::new(input.clone(), []));
        assert_eq!(read(&mut stream), &input[..100]);
        assert_eq!(read(&mut stream), &input[100..200]);
        assert_eq!(read(&mut stream), &input[200..]);
        assert_eq!(read(&mut stream), b"");
        assert_eq!(stream.inner.position, 250, "one read of the stream inside");
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
