//! One HTTP/2 connection: h2 reads and writes frames; this loop takes up the
//! streams h2 hands over, answers them together in the connection's task
//! (`streams::rounds`), and does what its [`State`] decides: GOAWAY at shutdown or
//! when idle, GOAWAY(ENHANCE_YOUR_CALM) for a flood, the end at a timeout.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::Reason;
use h2::server::SendResponse;
use log::debug;
use smol::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::handshake;
use super::io::{Watch, Watched};
use super::state::{Action, Closed, Expiry, State};
use super::stream::H2Stream;
use crate::connection::{CloseReason, Protocol};
use crate::exchange::Carrier;
use crate::handler::Handler;
use crate::metrics::Flood;
use crate::shared::{Shared, linger};
use crate::streams::request::Urls;
use crate::streams::rounds::{Round, StreamSource, Streams, poll_round};
use crate::streams::stream::{self, StreamContext, StreamEnd};
use crate::transport::{Peer, Security};

/// Serves one HTTP/2 connection, whose stream starts with the client's preface,
/// until the client closes it, a timeout, a flood or an error ends it, or shutdown
/// has let its streams finish; returns why it ended.
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
    let watch = Watch::new();
    let io = Watched::new(&mut stream, &watch).compat();
    let settings_sent = handshake::builder(limits).handshake(io);
    let header_deadline = started + limits.header_timeout;
    let h2 = match (shared.timeouts)
        .run_until(Some(header_deadline), settings_sent)
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
        carrier: Carrier {
            peer: &peer,
            security,
            protocol: Protocol::Http2,
        },
        version: http_types::Version::Http2_0,
    };
    let mut connection = Connection {
        h2,
        context: &context,
        watch: &watch,
        state: State::new(limits, started),
        urls: Urls::default(),
    };
    let reason = connection.run().await;
    drop(connection);
    if reason != CloseReason::WriteTimeout {
        linger(&mut stream, &shared.timeouts).await;
    }
    reason
}

type Io<'s, S> = Compat<Watched<'s, S>>;

struct Connection<'a, 's, S, H> {
    h2: h2::server::Connection<Io<'s, S>, Bytes>,
    context: &'a StreamContext<'a, H>,
    watch: &'a Watch,
    state: State<'a>,
    /// The URL of the origin its last request named.
    urls: Urls,
}

/// What the connection waited for, besides progress on its streams.
enum Event {
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

impl<'a, S, H> Connection<'a, '_, S, H>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    async fn run(&mut self) -> CloseReason {
        let shared = self.context.shared;
        let mut streams = Streams::default();
        let mut shutdown = pin!(shared.rules.shutdown_requested.triggered());
        loop {
            let (deadline, expiry) = (self.state)
                .deadline(streams.len(), self.watch.seen())
                .unzip();
            let next = self.next_event(&mut streams, shutdown.as_mut());
            // No round is only ever a deadline that passed.
            let round = match shared.timeouts.run_until(deadline, next).await {
                Some(round) => round,
                None => match expiry {
                    Some(expiry) => Round::Event(Event::Expired(expiry)),
                    None => continue,
                },
            };
            let action = match round {
                Round::Progress => Action::Continue,
                Round::Event(event) => self.handle(event),
            };
            if let Some(reason) = self.apply(action, &mut streams) {
                return reason;
            }
            self.count_open(streams.len());
            self.state.settled(streams.len(), Instant::now());
            if let Some(flood) = self.state.flood(&self.watch.counts, self.watch.seen()) {
                let action = self.flooded(flood);
                self.apply(action, &mut streams);
            }
        }
    }

    /// Answers the streams in rounds ([`poll_round`]) until they progress or the
    /// connection has an event, as soon as h2 has read it (h2 answers PING and
    /// SETTINGS itself, and says nothing). A deadline that starts meanwhile, as h2
    /// reads and writes (a write the client does not take, a header block left
    /// open), ends the wait too, so that the loop sets the deadlines anew.
    fn next_event<'f>(
        &'f mut self,
        streams: &'f mut Streams<'a>,
        shutdown: Pin<&'f mut impl Future<Output = ()>>,
    ) -> impl Future<Output = Round<Event>> + 'f {
        let late = self.late();
        let mut source = Source {
            connection: self,
            shutdown,
        };
        poll_fn(move |cx| match poll_round(streams, &mut source, cx) {
            Poll::Pending if source.connection.late() != late => Poll::Ready(Round::Progress),
            poll => poll,
        })
    }

    /// Tells the watched stream how many streams are being answered, and how many
    /// were taken up: it holds back a client's half-close meanwhile.
    fn count_open(&self, open: usize) {
        let open = u32::try_from(open).unwrap_or(u32::MAX);
        self.watch.set_streams(open, self.state.streams_taken());
    }

    /// What a deadline may start for while the connection waits, as h2 reads and
    /// writes: a write the client does not take, a header block left open.
    fn late(&self) -> (bool, bool) {
        let seen = self.watch.seen();
        (
            seen.write_stalled_since.is_some(),
            seen.header_block_open_since.is_some(),
        )
    }

    /// What the state says of what the connection waited for.
    fn handle(&mut self, event: Event) -> Action {
        match event {
            Event::WriteStalled => {
                debug!(
                    "{}: the client's window stayed shut",
                    self.context.carrier.peer
                );
                self.context.shared.metrics.http2.flood(Flood::ZeroWindow);
                self.state.stream_ended(StreamEnd::WriteStalled)
            }
            Event::Closed(closed) => Action::End(self.closed(closed)),
            Event::ShutdownAsked => self.state.shutdown_asked(),
            Event::Flood(flood) => self.flooded(flood),
            Event::Expired(expiry) => self.state.expired(expiry, Instant::now()),
        }
    }

    /// Does what the state said; returns why the connection ended, if it has.
    fn apply(&mut self, action: Action, streams: &mut Streams<'a>) -> Option<CloseReason> {
        let metrics = &self.context.shared.metrics.http2;
        match action {
            Action::Continue => {}
            Action::GoAway => {
                debug!("{}: HTTP/2 GOAWAY", self.context.carrier.peer);
                metrics.goaway(Reason::NO_ERROR.into());
                self.h2.graceful_shutdown();
            }
            Action::Abrupt(code) => {
                metrics.goaway(code.into());
                streams.clear();
                self.h2.abrupt_shutdown(code);
            }
            Action::End(reason) => return Some(reason),
        }
        None
    }

    /// A flood, counted; the state ends the connection for it.
    fn flooded(&mut self, flood: Flood) -> Action {
        debug!(
            "{}: HTTP/2 flood: {}",
            self.context.carrier.peer,
            flood.label()
        );
        self.context.shared.metrics.http2.flood(flood);
        self.state.flooded(Instant::now())
    }

    /// Why the connection ended, now that h2 says it has; what h2 sent, counted.
    fn closed(&self, closed: Result<(), h2::Error>) -> CloseReason {
        let peer = self.context.carrier.peer;
        let closed = match closed {
            Ok(()) => Closed::Cleanly,
            Err(error) if error.is_io() || error.is_remote() => {
                debug!("{peer}: HTTP/2 connection closed by the client: {error}");
                Closed::ByClient
            }
            Err(error) => {
                debug!("{peer}: HTTP/2 connection ended: {error}");
                match error.reason() {
                    Some(reason) if error.is_go_away() && error.is_library() => {
                        Closed::GoAwaySent(reason)
                    }
                    _ => Closed::Failed,
                }
            }
        };
        let ended = (self.state).closed(closed, &self.watch.counts, self.watch.seen());
        let metrics = &self.context.shared.metrics.http2;
        if let Some(goaway) = ended.goaway {
            metrics.goaway(goaway.into());
        }
        if let Some(flood) = ended.flood {
            metrics.flood(flood);
        }
        ended.reason
    }

    /// Takes up a stream h2 handed over: its answer starts, or, once the server
    /// has stopped accepting, it is refused.
    fn take(
        &mut self,
        request: http::Request<h2::RecvStream>,
        mut respond: SendResponse<Bytes>,
        streams: &mut Streams<'a>,
    ) {
        let shared = self.context.shared;
        self.state.stream_taken();
        shared.metrics.http2.stream();
        if shared.rules.accepting_stopped.is_triggered() {
            // Retried elsewhere by the client (RFC 9113 §8.7).
            respond.send_reset(Reason::REFUSED_STREAM);
        } else {
            let (parts, body) = request.into_parts();
            let handles = H2Stream {
                respond,
                body,
                watch: self.watch,
            };
            streams.push(stream::answer(self.context, &mut self.urls, parts, handles));
        }
        self.count_open(streams.len());
    }
}

/// The connection, as its rounds see it: where streams come from, and what ends a
/// round.
struct Source<'c, 'a, 's, S, H, F> {
    connection: &'c mut Connection<'a, 's, S, H>,
    shutdown: Pin<&'c mut F>,
}

impl<'a, S, H, F> StreamSource<'a> for Source<'_, 'a, '_, S, H, F>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
    F: Future<Output = ()>,
{
    type Event = Event;

    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        streams: &mut Streams<'a>,
    ) -> Poll<Result<(), Event>> {
        let connection = &mut *self.connection;
        match connection.h2.poll_accept(cx) {
            Poll::Ready(Some(Ok((request, respond)))) => {
                connection.take(request, respond, streams);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Err(Event::Closed(Err(error)))),
            Poll::Ready(None) => Poll::Ready(Err(Event::Closed(Ok(())))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn ended(&mut self, end: StreamEnd) -> Option<Event> {
        let connection = &mut *self.connection;
        match end {
            StreamEnd::WriteStalled => return Some(Event::WriteStalled),
            StreamEnd::Reset => connection.context.shared.metrics.http2.stream_reset(),
            StreamEnd::Answered | StreamEnd::Gone => {}
        }
        connection.state.stream_ended(end);
        None
    }

    fn poll_event(&mut self, cx: &mut Context<'_>, open: usize) -> Option<Event> {
        let connection = &mut *self.connection;
        connection.count_open(open);
        if !connection.state.is_going() && self.shutdown.as_mut().poll(cx).is_ready() {
            return Some(Event::ShutdownAsked);
        }
        let seen = connection.watch.seen();
        (connection.state.flood(&connection.watch.counts, seen)).map(Event::Flood)
    }
}
