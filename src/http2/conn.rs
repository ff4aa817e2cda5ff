//! One HTTP/2 connection: h2 reads and writes frames; this loop takes up the
//! streams h2 hands over, runs their answers together in the connection's task,
//! and decides when the connection ends: at the header, keep-alive or write
//! timeout, at shutdown (GOAWAY, then the streams in flight finish), or for a
//! flood (GOAWAY(ENHANCE_YOUR_CALM)).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use log::debug;
use smol::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::flood::Progress;

mod ending;
use super::handshake;
use super::io::{self, Watch, Watched};
use super::request::Urls;
use super::stream::{self, StreamContext, StreamEnd, StreamFuture};
use crate::connection::CloseReason;
use crate::handler::Handler;
use crate::metrics::Flood;
use crate::shared::{LINGER_TIMEOUT, Shared};
use crate::transport::{Peer, Security};

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
    let header_deadline = started + limits.header_timeout;
    if let Err(reason) =
        handshake::check_preface(&mut stream, &shared, &peer, header_deadline).await
    {
        return reason;
    }
    let watch = Watch::new();
    // h2 reads the preface again, from the watched stream's memory.
    let io = Watched::after_preface(&mut stream, &watch).compat();
    let settings_sent = handshake::builder(limits).handshake(io);
    let h2 = match (shared
        .timeouts
        .run_until(Some(header_deadline), settings_sent))
    .await
    {
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
        watch: &watch,
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
        urls: Urls::default(),
    };
    let reason = connection.run().await;
    drop(connection);
    if reason != CloseReason::WriteTimeout {
        io::linger(&mut stream, &shared).await;
    }
    reason
}

type Io<'s, S> = Compat<Watched<'s, S>>;

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
    /// The URL of the origin its last request named.
    urls: Urls,
}

/// What the connection waited for.
enum Event {
    /// Streams were taken up or answered.
    Progress,
    /// A stream's client gave its answer no room for the write timeout.
    WriteStalled,
    /// The connection closed, cleanly or not.
    Closed(Result<(), h2::Error>),
    /// A shutdown was asked for.
    ShutdownAsked,
    /// The client is flooding the connection.
    Flood(Flood),
    /// A deadline passed.
    Expired(Expiry),
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
            let (deadline, expiry) = self.deadline(streams.len()).unzip();
            let event = self.next_event(&mut streams, shutdown.as_mut());
            let event = shared.timeouts.run_until(deadline, event).await;
            // No event is only ever a deadline that passed.
            let Some(event) = event.or(expiry.map(Event::Expired)) else {
                continue;
            };
            if let Some(reason) = self.handle(event, &mut streams) {
                return reason;
            }
            self.count_open(streams.len());
            if streams.is_empty() && self.linger_until.is_none() {
                self.idle_since = Instant::now();
                if self.going_away.is_some() {
                    self.linger_until = Some(Instant::now() + LINGER_TIMEOUT);
                }
            }
            if let Some(flood) = self.flood() {
                self.flooded(flood, &mut streams);
            }
        }
    }

    /// Waits for what comes first: progress on the streams, a shutdown asked for,
    /// the connection closed, or a flood, as soon as h2 has read it (h2 answers
    /// PING and SETTINGS itself, and says nothing). Streams progress in rounds:
    /// every answer that is done, then every stream h2 has read, then their
    /// answers, until neither moves. h2 writes when it is polled, so the answers
    /// of one round go out in one write, not one write each.
    fn next_event<'f>(
        &'f mut self,
        streams: &'f mut FuturesUnordered<StreamFuture<'a>>,
        mut shutdown: Pin<&'f mut impl Future<Output = ()>>,
    ) -> impl Future<Output = Event> + 'f {
        let going = self.going_away.is_some();
        let late = self.late();
        poll_fn(move |cx| {
            let mut progressed = false;
            loop {
                while let Poll::Ready(Some(end)) = streams.poll_next_unpin(cx) {
                    if end == StreamEnd::WriteStalled {
                        return Poll::Ready(Event::WriteStalled);
                    }
                    self.progress.answered += u32::from(end == StreamEnd::Answered);
                    progressed = true;
                }
                self.count_open(streams.len());
                if !going && shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::ShutdownAsked);
                }
                let mut accepted = false;
                loop {
                    match self.h2.poll_accept(cx) {
                        Poll::Ready(Some(Ok((request, respond)))) => {
                            self.accept(request, respond, streams);
                            accepted = true;
                        }
                        Poll::Ready(Some(Err(error))) => {
                            return Poll::Ready(Event::Closed(Err(error)));
                        }
                        Poll::Ready(None) => return Poll::Ready(Event::Closed(Ok(()))),
                        Poll::Pending => break,
                    }
                    if let Some(flood) = self.flood() {
                        return Poll::Ready(Event::Flood(flood));
                    }
                }
                if !accepted {
                    break;
                }
                progressed = true;
            }
            self.count_open(streams.len());
            if let Some(flood) = self.flood() {
                Poll::Ready(Event::Flood(flood))
            } else if progressed || self.late() != late {
                // Back to the loop, which sets the deadlines anew.
                Poll::Ready(Event::Progress)
            } else {
                Poll::Pending
            }
        })
    }

    /// Tells the watched stream how many streams are being answered, and how many
    /// were taken up: it holds back a client's half-close meanwhile.
    fn count_open(&self, open: usize) {
        let open = u32::try_from(open).unwrap_or(u32::MAX);
        self.watch.set_streams(open, self.progress.accepted);
    }

    /// What a deadline may start for while the connection waits, as h2 reads and
    /// writes: a write the client does not take, a header block left open.
    fn late(&self) -> (bool, bool) {
        (
            self.watch.write_stalled_since().is_some(),
            self.watch.header_block_open_since().is_some(),
        )
    }

    /// Takes up a stream h2 handed over: its answer starts, or, once the server
    /// has stopped accepting, it is refused.
    fn accept(
        &mut self,
        request: http::Request<RecvStream>,
        mut respond: SendResponse<Bytes>,
        streams: &mut FuturesUnordered<StreamFuture<'a>>,
    ) {
        let shared = self.context.shared;
        self.progress.accepted += 1;
        shared.metrics.http2.stream();
        if shared.rules.accepting_stopped.is_triggered() {
            // Retried elsewhere by the client (RFC 9113 §8.7).
            respond.send_reset(Reason::REFUSED_STREAM);
        } else {
            streams.push(stream::answer(
                self.context,
                &mut self.urls,
                request,
                respond,
            ));
        }
        self.count_open(streams.len());
    }

    /// Deals with what the connection waited for; returns why it ended, if it has.
    fn handle(
        &mut self,
        event: Event,
        streams: &mut FuturesUnordered<StreamFuture<'a>>,
    ) -> Option<CloseReason> {
        let shared = self.context.shared;
        match event {
            Event::Progress => {}
            Event::WriteStalled => {
                debug!("{}: the client's window stayed shut", self.context.peer);
                shared.metrics.http2.flood(Flood::ZeroWindow);
                return Some(CloseReason::WriteTimeout);
            }
            Event::Closed(closed) => return Some(self.closed(closed)),
            Event::ShutdownAsked => self.go_away(CloseReason::Shutdown),
            Event::Flood(flood) => self.flooded(flood, streams),
            Event::Expired(expiry) => match expiry {
                Expiry::Write => return Some(CloseReason::WriteTimeout),
                Expiry::Linger => return Some(self.going_away.unwrap_or(CloseReason::Error)),
                Expiry::Header => {
                    streams.clear();
                    self.abrupt(Reason::NO_ERROR, CloseReason::HeaderTimeout);
                }
                Expiry::Idle => self.go_away(CloseReason::IdleTimeout),
            },
        }
        None
    }

    /// The next deadline, and what it is; `None` while streams are open and
    /// nothing is late.
    fn deadline(&self, open_streams: usize) -> Option<(Instant, Expiry)> {
        let limits = &self.context.shared.rules.limits;
        let mut next: Option<(Instant, Expiry)> = None;
        let mut consider = |at: Instant, expiry| {
            if next.is_none_or(|(first, _)| at < first) {
                next = Some((at, expiry));
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
}
