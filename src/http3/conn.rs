//! One HTTP/3 connection: quinn runs QUIC in tasks of its own, h3 reads the
//! control stream and frames the request streams; this loop reads each request
//! stream's HEADERS within the header timeout, answers the streams together in
//! the connection's task (`streams::rounds`), and does what its [`State`]
//! decides: GOAWAY at shutdown or when idle, the end.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h3::error::{Code, ConnectionError, LocalError, StreamError};
use h3::frame::FrameStream;
use h3::quic::{RecvStream as _, SendStream as _};
use h3::server::RequestResolver;
use h3::stream::BufRecvStream;
use log::debug;

use super::state::{Action, Closed, Expiry, State};
use super::stream::H3Stream;
use super::transport::{Abuse, QuicBidiStream, QuicConnection};
use crate::connection::{CloseReason, Protocol};
use crate::exchange::Carrier;
use crate::handler::Handler;
use crate::metrics::{Http3Attack, QuicHandshake};
use crate::quic::endpoint::Handshaking;
use crate::shared::Shared;
use crate::streams::request::Urls;
use crate::streams::rounds::{Round, StreamSource, Streams, poll_round};
use crate::streams::stream::{self, StreamContext, StreamEnd};
use crate::transport::{Peer, Security};

/// How much longer than the longest head a frame other than DATA may be: the
/// QPACK encoding's own bytes.
const FRAME_SLACK: u64 = 1024;

/// Serves one QUIC connection the client asked for, from its handshake until the
/// client closes it, a timeout or an error ends it, or shutdown has let its
/// streams finish; returns why it ended.
pub async fn serve<H: Handler>(
    incoming: quinn::Incoming,
    handshaking: Handshaking,
    shared: Arc<Shared<H>>,
) -> CloseReason {
    let limits = &shared.rules.limits;
    let peer = Peer::at(incoming.remote_address());
    let deadline = Instant::now() + limits.header_timeout;
    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(error) => {
            debug!("{peer}: QUIC connection refused: {error}");
            return CloseReason::Error;
        }
    };
    let frame_limit = limits.max_head_size as u64 + FRAME_SLACK;
    let handshake = async {
        let connection = connecting.await.map_err(|error| error.to_string())?;
        let transport = QuicConnection::new(connection, frame_limit);
        let abuse = transport.abuse();
        let quinn = transport.quinn().clone();
        let h3 = h3::server::builder()
            .max_field_section_size(limits.max_head_size as u64)
            .build(transport)
            .await
            .map_err(|error| format!("HTTP/3 setup: {error}"))?;
        Ok::<_, String>((h3, quinn, abuse))
    };
    let metrics = &shared.metrics.http3;
    // Boxed: the handshake's state is larger than the connection's, and would
    // stay in the connection's task for as long as it is open.
    let handshake = Box::pin(handshake);
    let (h3, quinn, abuse) = match shared.timeouts.run_until(Some(deadline), handshake).await {
        Some(Ok(connection)) => connection,
        Some(Err(error)) => {
            debug!("{peer}: QUIC handshake failed: {error}");
            metrics.handshake(QuicHandshake::Failed);
            return CloseReason::ClientClosed;
        }
        None => {
            debug!("{peer}: QUIC handshake timed out");
            metrics.handshake(QuicHandshake::Timeout);
            return CloseReason::HeaderTimeout;
        }
    };
    metrics.handshake(QuicHandshake::Ok);
    drop(handshaking);
    let context = StreamContext {
        shared: &shared,
        carrier: Carrier {
            peer: &peer,
            security: Security::Tls("TLSv1.3"),
            protocol: Protocol::Http3,
        },
        version: http_types::Version::Http3_0,
    };
    let mut connection = Connection {
        h3,
        quinn,
        abuse,
        close_code: Code::H3_NO_ERROR,
        context: &context,
        state: State::new(limits, Instant::now()),
        urls: Urls::default(),
        heads: FuturesUnordered::new(),
    };
    connection.run().await
}

type H3Connection = h3::server::Connection<QuicConnection, Bytes>;
type Resolver = RequestResolver<QuicConnection, Bytes>;

/// A request stream whose HEADERS are being read.
type HeadFuture<'a> = Pin<Box<dyn Future<Output = Head> + Send + 'a>>;

/// What a request stream's HEADERS came to.
enum Head {
    /// The request's head, and its stream.
    Read(Box<(http::Request<()>, H3Stream)>),
    /// No HEADERS within the header timeout: the stream was reset.
    TimedOut,
    /// h3 could not read them (it answered, reset the stream or closed the
    /// connection, as the error asked).
    Unreadable(StreamError),
}

struct Connection<'a, H> {
    h3: H3Connection,
    quinn: quinn::Connection,
    abuse: Arc<Abuse>,
    /// The code the connection closes with.
    close_code: Code,
    context: &'a StreamContext<'a, H>,
    state: State<'a>,
    /// The URL of the origin its last request named.
    urls: Urls,
    /// The streams whose HEADERS are being read.
    heads: FuturesUnordered<HeadFuture<'a>>,
}

/// What the connection waited for, besides progress on its streams.
enum Event {
    /// A stream's client took none of its answer for the write timeout.
    WriteStalled,
    /// h3 says the connection is over: `Ok` once the client's GOAWAY has no
    /// stream left.
    Closed(Result<(), ConnectionError>),
    /// A shutdown was asked for.
    ShutdownAsked,
    /// A deadline passed.
    Expired(Expiry),
    /// The state found an attack.
    Abused(Action),
}

impl<'a, H: Handler> Connection<'a, H> {
    async fn run(&mut self) -> CloseReason {
        let shared = self.context.shared;
        let mut streams = Streams::default();
        let mut shutdown = pin!(shared.rules.shutdown_requested.triggered());
        let reason = loop {
            let open = streams.len() + self.heads.len();
            let (deadline, expiry) = self.state.deadline(open).unzip();
            let next = self.next_event(&mut streams, shutdown.as_mut());
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
            if let Some(reason) = self.apply(action).await {
                break reason;
            }
            self.count_cap_stops();
            let open = streams.len() + self.heads.len();
            let settled = self.state.settled(open, Instant::now());
            if let Some(reason) = self.apply(settled).await {
                break reason;
            }
        };
        drop(streams);
        self.count_cap_stops();
        self.close(reason);
        reason
    }

    fn next_event<'f>(
        &'f mut self,
        streams: &'f mut Streams<'a>,
        shutdown: Pin<&'f mut impl Future<Output = ()>>,
    ) -> impl Future<Output = Round<Event>> + 'f {
        let mut source = Source {
            connection: self,
            shutdown,
        };
        poll_fn(move |cx| poll_round(streams, &mut source, cx))
    }

    fn handle(&mut self, event: Event) -> Action {
        match event {
            Event::WriteStalled => {
                debug!("{}: the client took no answer", self.context.carrier.peer);
                let metrics = &self.context.shared.metrics.http3;
                metrics.attack(Http3Attack::WriteStalled);
                self.state.stream_ended(StreamEnd::WriteStalled)
            }
            Event::Closed(closed) => self.closed(closed),
            Event::ShutdownAsked => self.state.shutdown_asked(),
            Event::Expired(expiry) => self.state.expired(expiry),
            Event::Abused(action) => action,
        }
    }

    /// Does what the state said; why the connection ended, if it has.
    async fn apply(&mut self, action: Action) -> Option<CloseReason> {
        match action {
            Action::Continue => None,
            Action::GoAway => {
                debug!("{}: HTTP/3 GOAWAY", self.context.carrier.peer);
                self.context.shared.metrics.http3.goaway();
                // Every stream the client opened so far is answered.
                let sent = self.h3.shutdown(0).await;
                if let Err(error) = sent {
                    debug!("{}: GOAWAY not sent: {error}", self.context.carrier.peer);
                }
                None
            }
            Action::End(reason) => Some(reason),
            Action::Excessive(attack) => {
                debug!("{}: HTTP/3 {}", self.context.carrier.peer, attack.label());
                self.context.shared.metrics.http3.attack(attack);
                self.close_code = Code::H3_EXCESSIVE_LOAD;
                Some(CloseReason::Error)
            }
        }
    }

    /// Closes the connection, with H3_NO_ERROR unless it was closed already: once
    /// quinn has sent the close, it drains.
    fn close(&self, reason: CloseReason) {
        let code = match reason {
            CloseReason::WriteTimeout => Code::H3_EXCESSIVE_LOAD,
            _ => self.close_code,
        };
        let code = quinn::VarInt::from_u64(code.value()).unwrap_or(quinn::VarInt::MAX);
        self.quinn.close(code, b"");
    }

    /// Why the connection ended, now that h3 says it has.
    fn closed(&mut self, closed: Result<(), ConnectionError>) -> Action {
        let peer = self.context.carrier.peer;
        if self.abuse.unidirectional_flood() {
            return self.state.abused(Http3Attack::UnidirectionalStreams);
        }
        let closed = match closed {
            Ok(()) => Closed::ByClient,
            Err(error) if error.is_h3_no_error() => Closed::ByClient,
            Err(ConnectionError::Timeout) => Closed::TimedOut,
            Err(ConnectionError::Remote(h3::quic::ConnectionErrorIncoming::Timeout)) => {
                Closed::TimedOut
            }
            Err(ConnectionError::Remote(error)) => {
                debug!("{peer}: HTTP/3 connection closed by the client: {error}");
                Closed::ByClient
            }
            Err(ConnectionError::Local { error }) => {
                debug!("{peer}: HTTP/3 connection closed for the client's error: {error:?}");
                if let LocalError::Application {
                    code: Code::H3_STREAM_CREATION_ERROR,
                    ..
                } = error
                {
                    // A second control or QPACK stream, as h3 found.
                    return self.state.abused(Http3Attack::UnidirectionalStreams);
                }
                Closed::Failed
            }
            Err(error) => {
                debug!("{peer}: HTTP/3 connection ended: {error}");
                Closed::Failed
            }
        };
        Action::End(self.state.closed(closed))
    }

    /// Starts reading the HEADERS of a request stream the client opened, within
    /// the header timeout.
    fn start_head(&mut self, stream: QuicBidiStream<Bytes>) {
        let stopped = Box::pin(stream.send.stopped());
        let resolver = self
            .h3
            .create_resolver(FrameStream::new(BufRecvStream::new(stream)));
        let shared = self.context.shared;
        let deadline = Instant::now() + shared.rules.limits.header_timeout;
        self.heads.push(Box::pin(async move {
            let read = shared
                .timeouts
                .run_until(Some(deadline), read_head(resolver))
                .await;
            match read {
                Some(Ok((request, stream))) => {
                    let stream = H3Stream {
                        stream,
                        stopped,
                        ended: false,
                    };
                    Head::Read(Box::new((request, stream)))
                }
                Some(Err(error)) => Head::Unreadable(error),
                None => Head::TimedOut,
            }
        }));
    }

    /// Takes up a stream whose head was read: its answer starts, or, once the
    /// server has stopped accepting, it is refused.
    fn take(
        &mut self,
        request: http::Request<()>,
        mut stream: H3Stream,
        streams: &mut Streams<'a>,
    ) {
        let shared = self.context.shared;
        self.state.stream_taken();
        shared.metrics.http3.stream();
        if shared.rules.accepting_stopped.is_triggered() {
            // Retried elsewhere by the client (RFC 9114 §4.1.1).
            let code = Code::H3_REQUEST_REJECTED;
            stream.stream.stop_sending(code);
            stream.stream.stop_stream(code);
            return;
        }
        let (parts, ()) = request.into_parts();
        streams.push(stream::answer(self.context, &mut self.urls, parts, stream));
    }

    /// What a stream whose head could not be read says of the client: what the
    /// connection does, if it is more than the stream's end.
    fn unreadable(&mut self, head: Head) -> Option<Action> {
        let metrics = &self.context.shared.metrics.http3;
        let peer = self.context.carrier.peer;
        match head {
            Head::Read(..) => None,
            Head::TimedOut => {
                debug!("{peer}: HTTP/3 HEADERS not in within the header timeout");
                metrics.attack(Http3Attack::SlowHeaders);
                None
            }
            Head::Unreadable(StreamError::RemoteTerminate { .. }) => {
                metrics.stream_reset();
                match self.state.stream_reset() {
                    Action::Continue => None,
                    action => Some(action),
                }
            }
            Head::Unreadable(error) => {
                debug!("{peer}: HTTP/3 request unreadable: {error}");
                None
            }
        }
    }

    /// Counts the streams the frame caps stopped since last asked.
    fn count_cap_stops(&self) {
        let stops = self.abuse.take_frames_too_large();
        if stops > 0 {
            let metrics = &self.context.shared.metrics.http3;
            metrics.attacks(Http3Attack::FrameTooLarge, stops.into());
        }
    }
}

/// Reads a request stream's HEADERS; the stream is reset with
/// H3_REQUEST_INCOMPLETE if they do not arrive in time (the future is dropped).
async fn read_head(
    resolver: Resolver,
) -> Result<(http::Request<()>, super::stream::H3RequestStream), StreamError> {
    let mut guard = ResetUnlessRead(Some(resolver));
    let resolver = guard.0.as_mut().expect("taken only once read");
    let frame = poll_fn(|cx| resolver.frame_stream.poll_next(cx)).await;
    let resolver = guard.0.take().expect("taken only once read");
    resolver.accept_with_frame(frame)?.resolve().await
}

/// A request stream whose HEADERS are not read yet: reset if dropped so.
struct ResetUnlessRead(Option<Resolver>);

impl Drop for ResetUnlessRead {
    fn drop(&mut self) {
        if let Some(resolver) = self.0.take() {
            let code = Code::H3_REQUEST_INCOMPLETE.value();
            let mut stream = resolver.frame_stream.into_inner();
            stream.stop_sending(code);
            stream.reset(code);
        }
    }
}

/// The connection, as its rounds see it: where streams come from, and what ends a
/// round.
struct Source<'c, 'a, H, F> {
    connection: &'c mut Connection<'a, H>,
    shutdown: Pin<&'c mut F>,
}

impl<'a, H: Handler, F: Future<Output = ()>> StreamSource<'a> for Source<'_, 'a, H, F> {
    type Event = Event;

    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        streams: &mut Streams<'a>,
    ) -> Poll<Result<(), Event>> {
        let connection = &mut *self.connection;
        while let Poll::Ready(Some(head)) = connection.heads.poll_next_unpin(cx) {
            match head {
                Head::Read(read) => {
                    let (request, stream) = *read;
                    connection.take(request, stream, streams);
                    return Poll::Ready(Ok(()));
                }
                head => {
                    if let Some(action) = connection.unreadable(head) {
                        return Poll::Ready(Err(Event::Abused(action)));
                    }
                }
            }
        }
        match connection.h3.poll_accept_request_stream(cx) {
            Poll::Ready(Ok(Some(stream))) => {
                connection.start_head(stream);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Err(Event::Closed(Ok(())))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(Event::Closed(Err(error)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn ended(&mut self, end: StreamEnd) -> Option<Event> {
        let connection = &mut *self.connection;
        match end {
            StreamEnd::WriteStalled => return Some(Event::WriteStalled),
            StreamEnd::Reset => connection.context.shared.metrics.http3.stream_reset(),
            StreamEnd::Answered | StreamEnd::Gone => {}
        }
        match connection.state.stream_ended(end) {
            Action::Continue => None,
            action => Some(Event::Abused(action)),
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>, _open: usize) -> Option<Event> {
        let connection = &mut *self.connection;
        if !connection.state.is_going() && self.shutdown.as_mut().poll(cx).is_ready() {
            return Some(Event::ShutdownAsked);
        }
        None
    }
}
