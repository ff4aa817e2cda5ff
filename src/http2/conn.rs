//! One HTTP/2 connection: h2 reads and writes frames; this loop takes up the
//! streams h2 hands over, runs their answers together in the connection's task,
//! and decides when the connection ends: at the header, keep-alive or write
//! timeout, at shutdown (GOAWAY, then the streams in flight finish), or for a
//! flood (GOAWAY(ENHANCE_YOUR_CALM)).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::{Builder, SendResponse};
use h2::{Reason, RecvStream};
use log::debug;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::PREFACE;
use super::flood::{self, Progress};
use super::io::{Watch, Watched};
use super::stream::{self, StreamContext, StreamEnd};
use crate::connection::CloseReason;
use crate::handler::Handler;
use crate::metrics::Flood;
use crate::shared::{LINGER_TIMEOUT, Limits, Shared};
use crate::transport::{Peer, Security};

/// A GOAWAY frame with PROTOCOL_ERROR, for a client whose preface is wrong: h2
/// closes without one.
const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Serves one HTTP/2 connection until the client closes it, a timeout, a flood or
/// an error ends it, or shutdown has let its streams finish; returns why it ended.
pub async fn serve<S, H>(
    mut stream: S,
    peer: Peer,
    security: Security,
    shared: Arc<Shared<H>>,
) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    let limits = &shared.rules.limits;
    let started = Instant::now();
    let header_deadline = Some(started + limits.header_timeout);
    match (shared.timeouts)
        .run_until(header_deadline, read_preface(&mut stream))
        .await
    {
        None => return CloseReason::HeaderTimeout,
        Some(Preface::Valid) => {}
        Some(Preface::Closed) => return CloseReason::ClientClosed,
        Some(Preface::Invalid) => {
            // Said before closing (RFC 9113 §3.4); h2 would close without a word.
            debug!("{peer}: not the HTTP/2 preface");
            shared.metrics.http2.goaway(Reason::PROTOCOL_ERROR.into());
            let _ = stream.write_all(&GOAWAY_PROTOCOL_ERROR).await;
            let _ = stream.close().await;
            return CloseReason::Error;
        }
    }
    let watch = Watch::new();
    // h2 reads the preface again, from the watched stream's memory.
    let io = Watched::after_preface(&mut stream, &watch).compat();
    let handshake = builder(limits).handshake(io);
    let h2 = match shared.timeouts.run_until(header_deadline, handshake).await {
        Some(Ok(h2)) => h2,
        Some(Err(error)) => {
            debug!("{peer}: HTTP/2 handshake failed: {error}");
            return CloseReason::ClientClosed;
        }
        None => return CloseReason::HeaderTimeout,
    };
    shared.metrics.http2.connection();
    let context = StreamContext {
        shared: &shared,
        peer: &peer,
        security,
    };
    let mut connection = Connection {
        h2,
        context: &context,
        watch: &watch,
        started,
        progress: Progress::default(),
        idle_since: started,
        going_away: None,
        linger_until: None,
    };
    let reason = connection.run().await;
    drop(connection);
    if reason != CloseReason::WriteTimeout {
        linger(&mut stream, &shared).await;
    }
    reason
}

/// Reads what the client still sends, until it closes or for `LINGER_TIMEOUT`, so
/// that unread bytes (a PING's answer, a WINDOW_UPDATE) do not make the kernel
/// reset the connection before the client has read the last frames.
async fn linger<S: AsyncRead + Unpin, H>(stream: &mut S, shared: &Shared<H>) {
    let drain = async {
        let mut buf = [0; 4096];
        while let Ok(1..) = stream.read(&mut buf).await {}
    };
    let deadline = Instant::now() + LINGER_TIMEOUT;
    shared.timeouts.run_until(Some(deadline), drain).await;
}

/// What a connection started with.
enum Preface {
    Valid,
    Invalid,
    Closed,
}

/// Reads the client's preface, and compares it byte by byte as it arrives, so that
/// a client that sent something else is told at once.
async fn read_preface<S: AsyncRead + Unpin>(stream: &mut S) -> Preface {
    let mut preface = [0; PREFACE.len()];
    let mut filled = 0;
    while filled < PREFACE.len() {
        match stream.read(&mut preface[filled..]).await {
            Ok(0) | Err(_) => return Preface::Closed,
            Ok(n) => filled += n,
        }
        if preface[..filled] != PREFACE[..filled] {
            return Preface::Invalid;
        }
    }
    Preface::Valid
}

/// h2's settings, from the limits.
fn builder(limits: &Limits) -> Builder {
    let mut builder = Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_head_size).unwrap_or(u32::MAX));
    builder
}

type Io<'s, S> = Compat<Watched<'s, S>>;

/// A stream's answer, running in the connection's task.
type StreamFuture<'a> = Pin<Box<dyn Future<Output = StreamEnd> + Send + 'a>>;

struct Connection<'a, 's, S, H> {
    h2: h2::server::Connection<Io<'s, S>, Bytes>,
    context: &'a StreamContext<'a, H>,
    watch: &'a Watch,
    started: Instant,
    progress: Progress,
    /// Since when no stream has been open.
    idle_since: Instant,
    /// The connection was told to go (GOAWAY), and why it will have ended.
    going_away: Option<CloseReason>,
    /// When a connection that is going, with no stream left, is dropped.
    linger_until: Option<Instant>,
}

/// What the connection waited for. Large, for the request inside, and as
/// short-lived: it is dealt with before the connection waits again.
#[allow(clippy::large_enum_variant)]
enum Event {
    /// A client opened a stream.
    Stream(http::Request<RecvStream>, SendResponse<Bytes>),
    /// A stream's answer is done.
    Finished(StreamEnd),
    /// The connection closed, cleanly or not.
    Closed(Result<(), h2::Error>),
    /// A shutdown was asked for.
    ShutdownAsked,
    /// The client is flooding the connection.
    Flood(Flood),
    /// A deadline passed.
    Expired,
}

/// Which deadline the connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// The first request's header block (and the preface's SETTINGS), or a header
    /// block left open.
    Header,
    /// No stream for the keep-alive timeout.
    Idle,
    /// A write the peer has not taken for the write timeout.
    Write,
    /// A connection that is going has had its last chance to close.
    Linger,
    /// Nothing is due: look again, so that a write that stalls meanwhile is seen.
    Recheck,
}

impl<'a, S, H> Connection<'a, '_, S, H>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    async fn run(&mut self) -> CloseReason {
        let shared = self.context.shared;
        let mut streams: FuturesUnordered<StreamFuture<'a>> = FuturesUnordered::new();
        let mut shutdown = pin!(shared.rules.shutdown_requested.triggered());
        loop {
            let (deadline, expiry) = self.deadline(streams.len());
            let going = self.going_away.is_some();
            let (watch, progress) = (self.watch, self.progress);
            let max_streams = shared.rules.limits.max_concurrent_streams;
            let h2 = &mut self.h2;
            let event = poll_fn(|cx| {
                if let Poll::Ready(Some(end)) = streams.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Finished(end));
                }
                if !going && shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::ShutdownAsked);
                }
                match h2.poll_accept(cx) {
                    Poll::Ready(Some(Ok((request, respond)))) => {
                        Poll::Ready(Event::Stream(request, respond))
                    }
                    Poll::Ready(Some(Err(error))) => Poll::Ready(Event::Closed(Err(error))),
                    Poll::Ready(None) => Poll::Ready(Event::Closed(Ok(()))),
                    // What h2 read and answered itself (PING, SETTINGS…) is looked
                    // at as soon as it is read.
                    Poll::Pending if !going => {
                        match flood::detect(&watch.counts, progress, max_streams) {
                            Some(flood) => Poll::Ready(Event::Flood(flood)),
                            None => Poll::Pending,
                        }
                    }
                    Poll::Pending => Poll::Pending,
                }
            });
            let event =
                (shared.timeouts.run_until(Some(deadline), event).await).unwrap_or(Event::Expired);
            match event {
                Event::Stream(request, mut respond) => {
                    self.progress.accepted += 1;
                    shared.metrics.http2.stream();
                    if shared.rules.accepting_stopped.is_triggered() {
                        // Retried elsewhere by the client (RFC 9113 §8.7).
                        respond.send_reset(Reason::REFUSED_STREAM);
                    } else {
                        let context = self.context;
                        streams.push(Box::pin(stream::answer(context, request, respond)));
                    }
                }
                Event::Finished(StreamEnd::WriteStalled) => {
                    debug!("{}: the client's window stayed shut", self.context.peer);
                    shared.metrics.http2.flood(Flood::ZeroWindow);
                    return CloseReason::WriteTimeout;
                }
                Event::Finished(end) => {
                    self.progress.answered += u32::from(end == StreamEnd::Answered);
                }
                Event::Closed(closed) => return self.closed(closed),
                Event::ShutdownAsked => self.go_away(CloseReason::Shutdown),
                Event::Flood(flood) => {
                    debug!("{}: HTTP/2 flood: {}", self.context.peer, flood.label());
                    shared.metrics.http2.flood(flood);
                    streams.clear();
                    self.abrupt(Reason::ENHANCE_YOUR_CALM, CloseReason::Error);
                }
                Event::Expired => match expiry {
                    Expiry::Write => return CloseReason::WriteTimeout,
                    Expiry::Linger => return self.going_away.unwrap_or(CloseReason::Error),
                    Expiry::Recheck => {}
                    Expiry::Header => {
                        streams.clear();
                        self.abrupt(Reason::NO_ERROR, CloseReason::HeaderTimeout);
                    }
                    Expiry::Idle => self.go_away(CloseReason::IdleTimeout),
                },
            }
            self.progress.open = u32::try_from(streams.len()).unwrap_or(u32::MAX);
            if streams.is_empty() && self.linger_until.is_none() {
                self.idle_since = Instant::now();
                if self.going_away.is_some() {
                    self.linger_until = Some(Instant::now() + LINGER_TIMEOUT);
                }
            }
            if self.going_away.is_none() {
                let limits = &shared.rules.limits;
                let max_streams = limits.max_concurrent_streams;
                if let Some(flood) = flood::detect(&self.watch.counts, self.progress, max_streams) {
                    debug!("{}: HTTP/2 flood: {}", self.context.peer, flood.label());
                    shared.metrics.http2.flood(flood);
                    streams.clear();
                    self.abrupt(Reason::ENHANCE_YOUR_CALM, CloseReason::Error);
                }
            }
        }
    }

    /// The next deadline, and what it is.
    fn deadline(&self, open_streams: usize) -> (Instant, Expiry) {
        let limits = &self.context.shared.rules.limits;
        let now = Instant::now();
        let mut next = (now + limits.write_timeout / 4, Expiry::Recheck);
        let mut consider = |at: Instant, expiry| {
            if at < next.0 {
                next = (at, expiry);
            }
        };
        if let Some(since) = self.watch.write_stalled_since() {
            consider(since + limits.write_timeout, Expiry::Write);
        }
        if let Some(linger_until) = self.linger_until {
            consider(linger_until, Expiry::Linger);
        }
        if self.going_away.is_none() {
            if let Some(since) = self.watch.header_block_open_since() {
                consider(since + limits.header_timeout, Expiry::Header);
            }
            if open_streams == 0 && self.progress.accepted == 0 {
                consider(self.started + limits.header_timeout, Expiry::Header);
            } else if open_streams == 0 {
                consider(self.idle_since + limits.keep_alive_timeout, Expiry::Idle);
            }
        }
        next
    }

    /// Tells the client to open no more streams (GOAWAY with NO_ERROR); the streams
    /// in flight finish, then the connection closes.
    fn go_away(&mut self, reason: CloseReason) {
        if self.going_away.is_none() {
            debug!("{}: HTTP/2 GOAWAY ({})", self.context.peer, reason.label());
            self.context
                .shared
                .metrics
                .http2
                .goaway(Reason::NO_ERROR.into());
            self.h2.graceful_shutdown();
            self.going_away = Some(reason);
        }
    }

    /// Ends the connection with GOAWAY(`code`), whatever its streams; the frame
    /// has `LINGER_TIMEOUT` to go out.
    fn abrupt(&mut self, code: Reason, reason: CloseReason) {
        self.context.shared.metrics.http2.goaway(code.into());
        self.h2.abrupt_shutdown(code);
        self.going_away = Some(reason);
        self.linger_until = Some(Instant::now() + LINGER_TIMEOUT);
    }

    /// Which flood h2 ended the connection for itself (with ENHANCE_YOUR_CALM),
    /// from what the connection saw: a header block left open (too many
    /// CONTINUATION frames), streams refused for concurrency (too many local
    /// resets), resets of streams not taken up yet (rapid reset), streams refused
    /// for their header list (an HPACK bomb), or else small frames (its DATA frame
    /// budget).
    fn caught_by_h2(&self) -> Flood {
        let counts = &self.watch.counts;
        let max_streams = self.context.shared.rules.limits.max_concurrent_streams;
        let not_accepted =
            (counts.streams_opened.load(Relaxed)).saturating_sub(self.progress.accepted);
        if self.watch.header_block_open_since().is_some() {
            Flood::Continuation
        } else if not_accepted > max_streams {
            Flood::TooManyStreams
        } else if counts.resets.load(Relaxed) > self.progress.answered {
            Flood::RapidReset
        } else if not_accepted > 0 {
            // Streams h2 refused below the concurrency limit: their header lists
            // decoded to more than the limit.
            Flood::HpackBomb
        } else {
            Flood::Control
        }
    }

    /// Why the connection ended, now that h2 says it has.
    fn closed(&self, closed: Result<(), h2::Error>) -> CloseReason {
        let error = match closed {
            Ok(()) => return self.going_away.unwrap_or(CloseReason::ClientClosed),
            Err(error) => error,
        };
        let peer = self.context.peer;
        if error.is_io() || error.is_remote() {
            debug!("{peer}: HTTP/2 connection closed by the client: {error}");
            return self.going_away.unwrap_or(CloseReason::ClientClosed);
        }
        debug!("{peer}: HTTP/2 connection ended: {error}");
        let metrics = &self.context.shared.metrics.http2;
        if error.is_go_away()
            && error.is_library()
            && let Some(reason) = error.reason()
        {
            metrics.goaway(reason.into());
            if reason == Reason::ENHANCE_YOUR_CALM {
                metrics.flood(self.caught_by_h2());
            }
        }
        CloseReason::Error
    }
}
