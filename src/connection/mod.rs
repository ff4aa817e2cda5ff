//! The HTTP/1.x connection layer: it knows the [`Handler`] contract, never the
//! application or the command line.
//!
//! async-h1 parses request heads and encodes responses; this layer owns everything
//! around them. Requests pipelined on a connection are read ahead (up to 16), their
//! handlers run together, and their answers go out in order. It enforces the head
//! size limit while the head arrives, the header, keep-alive and write timeouts,
//! HTTP/1.0 and keep-alive rules, and answers every request it cannot serve with a
//! status line and a JSON body before it closes.
//!
//! - [`head`]: reading a request head (scan, request line, field rules, async-h1).
//! - [`pipeline`]: the requests read and not yet answered.
//! - [`dispatch`]: who answers, and whether the connection stays open.
//! - [`encode`]: responses into bytes; [`error`]: the connection layer's own answers.
//! - [`io`]: reads and writes, and the write policy; [`transport`]: the streams.
//! - [`exchange`]: one request's record, for the metrics and the [`access_log`];
//!   [`forwarded`]: the client's address behind trusted proxies.

mod access_log;
mod dispatch;
mod encode;
mod error;
mod exchange;
mod forwarded;
mod head;
mod io;
mod pipeline;
mod request_id;
mod transport;

pub use access_log::AccessLog;
pub use error::HttpError;
pub use forwarded::TrustedProxies;
pub use head::{MAX_FIELD_LINE, MAX_HEADER_FIELDS};
pub use transport::{Peer, Socket, Transport};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http_types::{Method, StatusCode};
use log::{debug, error};
use smol::future::{FutureExt, poll_once};

use crate::deadlines::Deadlines;
use crate::handler::{Handler, ServerState};
use crate::metrics::{CloseReason, Metrics};
use crate::shutdown::Shutdown;
use dispatch::{Dispatch, dispatch};
use encode::{Persistence, encode};
use exchange::Exchange;
use head::{Framing, Head, HeadScanner, decode_head};
use io::{ConnectionIo, Received};
use pipeline::{Answer, Pipeline, Ready};

/// The limits and timeouts every connection observes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a head may take once its first byte has arrived; also how long an
    /// unread request body may take to arrive after its head.
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// How long writing one response may take.
    pub write_timeout: Duration,
    /// The largest head accepted, in bytes.
    pub max_head_size: usize,
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Shared<H> {
    /// The application.
    pub handler: H,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Set when a shutdown is asked for (the first signal): from then on every
    /// response says `Connection: close`.
    pub shutdown: Shutdown,
    /// Set when the server stops accepting, after the shutdown delay: from then on
    /// connections idle between requests close.
    pub stopping: Shutdown,
    /// What the server counts.
    pub metrics: Metrics,
    /// The access log's settings; `None` while access lines are off.
    pub access_log: Option<AccessLog>,
    /// The timing wheel for the header, keep-alive and linger timeouts (see
    /// [`Limits::deadlines`]); its sweeper must run beside the connections.
    pub deadlines: Deadlines,
}

impl Limits {
    /// A timing wheel for these limits: ticks of 1/20 of the shortest of the header
    /// and keep-alive timeouts (at most 100 ms), a turn as long as the longest wait.
    pub fn deadlines(&self) -> Deadlines {
        let shortest = self.header_timeout.min(self.keep_alive_timeout);
        let longest = (self.header_timeout.max(self.keep_alive_timeout)).max(io::LINGER_TIMEOUT);
        Deadlines::new(shortest, longest)
    }
}

/// Serves one connection until the client closes it, a timeout or an error ends it,
/// or shutdown finds it idle; returns why it ended. A panic inside is logged and ends
/// only this connection.
pub async fn serve<S: Transport, H: Handler>(
    stream: S,
    peer: Peer,
    shared: Arc<Shared<H>>,
) -> CloseReason {
    let mut connection = Connection {
        io: ConnectionIo::new(stream, peer, shared.limits.write_timeout, &shared.deadlines),
        shared: &shared,
        scanner: HeadScanner::new(shared.limits.max_head_size),
        head_deadline: None,
        reading: Reading::Open,
        served: 0,
    };
    match AssertUnwindSafe(connection.run()).catch_unwind().await {
        Ok(reason) => reason,
        Err(panic) => {
            error!(
                "{peer}: connection task panicked: {}",
                dispatch::panic_message(panic.as_ref())
            );
            CloseReason::Error
        }
    }
}

/// Polls once a future that only works on memory (async-h1's decoder and encoder over
/// an in-memory buffer), so it finishes without waiting; `None` if it did wait.
/// Polling in place rather than awaiting keeps the future's state on the stack for
/// the call, not in every connection's task for the connection's life.
fn finish_in_memory<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

struct Connection<'a, S, H> {
    io: ConnectionIo<'a, S>,
    shared: &'a Shared<H>,
    /// Where the head at the end of the read buffer ends, once it is complete.
    scanner: HeadScanner,
    /// When the head that has started to arrive must be complete.
    head_deadline: Option<Instant>,
    /// Whether more requests are read.
    reading: Reading,
    /// Requests started on this connection.
    served: u64,
}

/// Whether the connection reads more requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Requests are read and started as they arrive.
    Open,
    /// Not until the last request read is answered and its body skipped: bytes
    /// inside a body must never be taken for a request.
    AfterBody,
    /// No more: the last request read ends the connection, or the client closed its
    /// side, which ends the connection, for this reason, once every request read is
    /// answered.
    Stopped(CloseReason),
}

/// What happens to the connection after one exchange.
enum Next {
    /// Go on.
    KeepAlive,
    /// A response said `Connection: close`: close gracefully.
    Close(CloseReason),
    /// Nothing more can be said: drop the connection.
    Drop(CloseReason),
}

/// What an encoded answer leaves to do.
struct Encoded {
    /// The answer closes the connection, for this reason.
    closing: Option<CloseReason>,
    /// The body after the request's head, to skip if the connection stays open.
    framing: Framing,
}

/// What the connection waited for. Large, like [`Ready`], and as short-lived.
#[allow(clippy::large_enum_variant)]
enum Event<'a> {
    /// The oldest request's answer is known (`None`: no request is waiting).
    Answer(Option<(pipeline::Request<'a>, Ready)>),
    /// Input arrived, or the wait for it ended.
    Input(Received),
}

impl<'a, S: Transport, H: Handler> Connection<'a, S, H> {
    async fn run(&mut self) -> CloseReason {
        let mut pipeline = Pipeline::default();
        loop {
            // The event is dealt with in a block of its own, so that the large
            // answer inside it takes no room in the task while the write waits.
            let encoded = {
                let event = self.step(&mut pipeline).await;
                self.handle(event, &mut pipeline)
            };
            let next = match encoded {
                Ok(encoded) => self.encoded(encoded).await,
                Err(next) => next,
            };
            match next {
                Next::KeepAlive => {}
                Next::Close(reason) => {
                    self.io.linger().await;
                    return reason;
                }
                Next::Drop(reason) => {
                    // What is pending still goes out; the client may be reading.
                    let _ = self.io.flush().await;
                    return reason;
                }
            }
        }
    }

    /// Deals with what the connection waited for: encodes an answer, or takes in
    /// input. `Err` with what happens to the connection if there is nothing to write.
    fn handle(&mut self, event: Event<'a>, pipeline: &mut Pipeline<'a>) -> Result<Encoded, Next> {
        match event {
            Event::Answer(Some((request, ready))) => {
                let last = pipeline.is_empty();
                self.encode_answer(request, ready, last)
            }
            Event::Answer(None) => Err(match self.reading {
                Reading::Stopped(reason) => Next::Drop(reason),
                // Nothing waits and nothing more can be read: not reached, as
                // reading stops only behind a request.
                _ => Next::Drop(CloseReason::Error),
            }),
            Event::Input(received) => Err(self.received(received, pipeline)),
        }
    }

    /// Starts the requests that have arrived, then waits for the next thing to do:
    /// an answer at the front of the pipeline, or input.
    async fn step(&mut self, pipeline: &mut Pipeline<'a>) -> Event<'a> {
        self.start_requests(pipeline);
        // What is ready is answered without waiting, so that pipelined answers leave
        // together, in one write.
        if let Some(answer) = poll_once(pipeline.next_answer()).await
            && (answer.is_some() || !self.reads_more(pipeline))
        {
            return Event::Answer(answer);
        }
        if self.io.flush().await.is_err() {
            return Event::Input(Received::Failed);
        }
        self.io.release_buffers(!pipeline.is_empty());
        if !self.reads_more(pipeline) {
            return Event::Answer(pipeline.next_answer().await);
        }
        let (deadline, stopping) = self.input_deadline(pipeline);
        let input = async { Event::Input(self.io.receive(deadline, stopping).await) };
        if pipeline.is_empty() {
            return input.await;
        }
        let answer = async { Event::Answer(pipeline.next_answer().await) };
        answer.or(input).await
    }

    /// Whether the connection waits for more requests now.
    fn reads_more(&self, pipeline: &Pipeline<'a>) -> bool {
        self.reading == Reading::Open
            && pipeline.has_room()
            // Once shutting down, only a connection with nothing to answer takes one
            // more request: the answers say `Connection: close`.
            && (pipeline.is_empty() || !self.shared.shutdown.is_triggered())
    }

    /// How long to wait for input: the head that has started to arrive must be
    /// complete by its deadline; a connection with nothing to answer stays open for
    /// the keep-alive timeout, or until the server stops (unless it has not sent its
    /// first request yet); one whose handlers are working waits for them.
    fn input_deadline(
        &mut self,
        pipeline: &Pipeline<'a>,
    ) -> (Option<Instant>, Option<&'a Shutdown>) {
        let limits = &self.shared.limits;
        if !self.io.input().is_empty() {
            let deadline = *self
                .head_deadline
                .get_or_insert_with(|| Instant::now() + limits.header_timeout);
            (Some(deadline), None)
        } else if pipeline.is_empty() {
            let idle_deadline = Instant::now() + limits.keep_alive_timeout;
            let stopping = (self.served > 0).then_some(&self.shared.stopping);
            (Some(idle_deadline), stopping)
        } else {
            (None, None)
        }
    }

    /// Starts every request whose head has arrived, as long as the pipeline has room.
    fn start_requests(&mut self, pipeline: &mut Pipeline<'a>) {
        while self.reads_more(pipeline) {
            match self.scanner.scan(self.io.input()) {
                Ok(None) => return,
                Ok(Some(len)) => {
                    let received = Instant::now();
                    let decoded = decode_head(&self.io.input()[..len]);
                    self.io.consume(len);
                    self.scanner = HeadScanner::new(self.shared.limits.max_head_size);
                    self.head_deadline = None;
                    match decoded {
                        Ok(head) => self.start(head, received, pipeline),
                        Err(error) => self.refuse(error, pipeline),
                    }
                }
                Err(error) => self.refuse(error, pipeline),
            }
        }
    }

    /// Starts answering one request: the handler starts working, or the connection
    /// layer's answer is decided.
    fn start(&mut self, head: Head, received: Instant, pipeline: &mut Pipeline<'a>) {
        self.served += 1;
        let shared = self.shared;
        let (route, decision) = dispatch::<H>(&head);
        let persistence = dispatch::persistence(&head);
        let exchange = Exchange::new(
            &head.request,
            head.method,
            head.request_id,
            route,
            received,
            self.io.peer(),
            shared,
        );
        let method = head.request.method();
        let answer = match decision {
            Dispatch::Layer(answer) => Answer::Layer(answer),
            Dispatch::Handler(endpoint) => {
                let server = ServerState {
                    metrics: &shared.metrics,
                    draining: shared.shutdown.is_triggered(),
                };
                let handler = dispatch::call(&shared.handler, endpoint, head.request, server);
                Answer::Waiting(Box::pin(handler))
            }
        };
        self.reading = match (persistence, head.framing) {
            (Persistence::Close(reason), _) => Reading::Stopped(reason),
            (_, framing) if framing.has_body() => Reading::AfterBody,
            _ => Reading::Open,
        };
        let request = pipeline::Request {
            exchange,
            method,
            persistence,
            framing: head.framing,
        };
        pipeline.push(request, answer);
    }

    /// Queues the answer to what could not be read as a request; nothing after it is
    /// read.
    fn refuse(&mut self, error: HttpError, pipeline: &mut Pipeline<'a>) {
        debug!("{}: {} ({})", self.io.peer(), error.status, error.detail);
        let reason = match error.status {
            StatusCode::RequestTimeout => CloseReason::HeaderTimeout,
            _ => CloseReason::Error,
        };
        self.reading = Reading::Stopped(reason);
        let request = pipeline::Request {
            exchange: Exchange::unreadable(self.io.peer(), self.shared),
            method: Method::Get,
            persistence: Persistence::Close(reason),
            framing: Framing::Empty,
        };
        pipeline.push(request, Answer::Refused(error));
    }

    /// What input that arrived, or the end of the wait for it, means.
    fn received(&mut self, received: Received, pipeline: &mut Pipeline<'a>) -> Next {
        let waiting = !pipeline.is_empty();
        let partial_head = !self.io.input().is_empty();
        match received {
            Received::Data => return Next::KeepAlive,
            Received::Eof if partial_head => {
                let error = "the connection ended inside a request head";
                self.refuse(HttpError::bad_request(error), pipeline);
            }
            // Answer what was asked, then close.
            Received::Eof if waiting => self.reading = Reading::Stopped(CloseReason::ClientClosed),
            Received::Eof => return Next::Drop(CloseReason::ClientClosed),
            Received::TimedOut if partial_head => {
                let error = "the request head took too long to arrive";
                self.refuse(HttpError::new(StatusCode::RequestTimeout, error), pipeline);
            }
            Received::TimedOut => return Next::Drop(CloseReason::IdleTimeout),
            Received::ShutDown => return Next::Drop(CloseReason::Shutdown),
            Received::Failed => return Next::Drop(CloseReason::Error),
        }
        Next::KeepAlive
    }

    /// Encodes the answer to the oldest request (`last`: no other request waits)
    /// behind those not yet written, and records it. Not `async`: the response is
    /// large, and is gone before the connection waits again.
    fn encode_answer(
        &mut self,
        request: pipeline::Request<'a>,
        ready: Ready,
        last: bool,
    ) -> Result<Encoded, Next> {
        let (response, persistence) = match ready {
            Ready::Layer(answer) => (answer.response(), request.persistence),
            Ready::Refused(error) => (error.response(), request.persistence),
            Ready::Handler(Ok(response)) => (response, request.persistence),
            Ready::Handler(Err(panic)) => {
                error!(
                    "{}: handler panicked on request {}: {}",
                    self.io.peer(),
                    request.exchange.request_id().as_str(),
                    dispatch::panic_message(panic.as_ref())
                );
                let closing = Persistence::Close(CloseReason::Error);
                (dispatch::handler_failed(), closing)
            }
        };
        let persistence = match persistence {
            // Once shutting down, the last answer closes the connection.
            Persistence::KeepAlive | Persistence::KeepAliveHttp10
                if last && self.shared.shutdown.is_triggered() =>
            {
                Persistence::Close(CloseReason::Shutdown)
            }
            persistence => persistence,
        };
        let status = response.status();
        let id = request.exchange.request_id();
        let before = self.io.output().len();
        if let Err(error) = encode(response, request.method, persistence, id, self.io.output()) {
            error!(
                "{}: cannot encode a {status} response: {error}",
                self.io.peer()
            );
            return Err(Next::Drop(CloseReason::Error));
        }
        let bytes = self.io.output().len() - before;
        request.exchange.answered(self.io.peer(), status, bytes);
        Ok(Encoded {
            closing: match persistence {
                Persistence::Close(reason) => Some(reason),
                _ => None,
            },
            framing: request.framing,
        })
    }

    /// Applies the write policy (`io`) to an encoded answer, then skips the
    /// request's body if the connection stays open.
    async fn encoded(&mut self, encoded: Encoded) -> Next {
        let written = self.io.queued(encoded.closing.is_some()).await;
        match (written, encoded.closing) {
            (Err(error), _) if error.kind() == std::io::ErrorKind::TimedOut => {
                Next::Drop(CloseReason::WriteTimeout)
            }
            (Err(_), _) => Next::Drop(CloseReason::Error),
            (Ok(()), Some(reason)) => Next::Close(reason),
            // Reading stopped behind this request (the last one read): its body goes,
            // then the next request may be read.
            (Ok(()), None) if encoded.framing.has_body() => {
                if !self.skip_body(encoded.framing).await {
                    return Next::Drop(CloseReason::Error);
                }
                self.reading = Reading::Open;
                Next::KeepAlive
            }
            (Ok(()), None) => Next::KeepAlive,
        }
    }

    /// Reads and drops a Content-Length body the handler did not read, within the
    /// header timeout. Returns whether the connection is ready for the next request.
    async fn skip_body(&mut self, framing: head::Framing) -> bool {
        match framing {
            head::Framing::Empty => true,
            head::Framing::Length(length) => {
                let deadline = Instant::now() + self.shared.limits.header_timeout;
                self.io.skip(length, deadline).await
            }
            head::Framing::Chunked => false,
        }
    }
}
