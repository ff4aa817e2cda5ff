//! One HTTP/3 connection: quinn runs QUIC in tasks of its own, h3 reads the
//! control stream and frames the request streams; this loop reads each request
//! stream's HEADERS within the header timeout, answers the streams together in
//! the connection's task (`streams::rounds`), and does what its [`State`]
//! decides: GOAWAY at shutdown or when idle, the end.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;

use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use h3::error::{Code, ConnectionError, StreamError};
use log::debug;

use super::handshake::{self, Failed};
use super::head::{self, Head, HeadFuture};
use super::state::{Action, Expiry, State, ending};
use super::stream::H3Stream;
use super::transport::{Abuse, QuicBidiStream, QuicConnection};
use crate::connection::{CloseReason, Protocol};
use crate::exchange::Carrier;
use crate::handler::Handler;
use crate::metrics::{Http3Attack, QuicHandshake};
use crate::quic::endpoint::Handshaking;
use crate::shared::Shared;
use crate::streams::request::Urls;
use crate::streams::rounds::{Round, Streams, poll_round};
use crate::streams::stream::{self, StreamContext, StreamEnd};
use crate::transport::{Peer, Security};
use source::Source;

mod source;

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
    let metrics = &shared.metrics.http3;
    let (h3, quinn, abuse) = match handshake::set_up(connecting, deadline, &shared).await {
        Ok(connection) => connection,
        Err(Failed::Timeout) => {
            debug!("{peer}: QUIC handshake timed out");
            metrics.handshake(QuicHandshake::Timeout);
            return CloseReason::HeaderTimeout;
        }
        Err(Failed::Error(error)) => {
            debug!("{peer}: QUIC handshake failed: {error}");
            metrics.handshake(QuicHandshake::Failed);
            return CloseReason::ClientClosed;
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
        if let Err(error) = &closed {
            debug!(
                "{}: HTTP/3 connection ended: {error}",
                self.context.carrier.peer
            );
        }
        if self.abuse.unidirectional_flood() {
            return self.state.abused(Http3Attack::UnidirectionalStreams);
        }
        match ending(&closed) {
            Ok(closed) => Action::End(self.state.closed(closed)),
            Err(attack) => self.state.abused(attack),
        }
    }

    /// Starts reading the HEADERS of a request stream the client opened, within
    /// the header timeout.
    fn start_head(&mut self, stream: QuicBidiStream<Bytes>) {
        let shared = self.context.shared;
        let deadline = Instant::now() + shared.rules.limits.header_timeout;
        let head = head::read(&self.h3, stream, &shared.timeouts, deadline);
        self.heads.push(head);
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
