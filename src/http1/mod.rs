//! The HTTP/1.x connection layer: it knows the [`Handler`] contract, never the
//! application or the command line, and serves any byte stream
//! (`AsyncRead + AsyncWrite`).
//!
//! async-h1 parses request heads; this layer owns everything around them, and writes
//! the responses. Requests pipelined on a connection are read ahead (up to 16), their
//! handlers run together, and their answers go out in order. It enforces the head
//! size limit while the head arrives, the header, keep-alive and write timeouts,
//! HTTP/1.0 and keep-alive rules, and answers every request it cannot serve with a
//! status line and a JSON body before it closes.
//!
//! - here: the connection loop: start the requests read, wait for an answer or
//!   input, write the answers.
//! - [`state`]: whether the connection reads more and goes on, and if not, why.
//! - [`head`]: reading a request head (scan, request line, field rules, async-h1).
//! - [`pipeline`]: the requests read and not yet answered.
//! - [`dispatch`]: who answers a request.
//! - [`answer`]: an answer encoded as the state says, and recorded; [`encode`]:
//!   responses into bytes; [`error`]: the layer's own answers, and what each refused
//!   request gets.
//! - [`io`]: reads and writes, and the write policy; [`transport`]: the sockets.
//! - [`exchange`]: one request's record, for the metrics and the [`access_log`];
//!   [`forwarded`]: the client's address behind trusted proxies.

mod answer;
mod encode;
mod error;
mod head;
mod io;
mod memory;
mod pipeline;
mod state;

pub use head::MAX_FIELD_LINE;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use http_types::{Method, Version};
use log::{debug, error};
use smol::future::{FutureExt, poll_once};
use smol::io::{AsyncRead, AsyncWrite};

use crate::connection::CloseReason;
use crate::exchange::dispatch::{self, Answered, Dispatch, Target, dispatch};
use crate::exchange::{Arrival, Exchange};
use crate::handler::{Handler, ServerState};
use crate::shared::Shared;
use crate::shutdown::Shutdown;
use crate::transport::{Peer, Security};
use error::HttpError;
use head::{Head, HeadScanner, decode_head};
use io::{ConnectionIo, Received};
use pipeline::{Answer, Pipeline};
use state::{Ending, State};

/// Serves one connection until the client closes it, a timeout or an error ends it,
/// or shutdown finds it idle; returns why it ended. A panic inside is logged and ends
/// only this connection.
pub async fn serve<S, H>(
    stream: S,
    peer: Peer,
    security: Security,
    shared: Arc<Shared<H>>,
) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    let mut connection = Connection {
        io: ConnectionIo::new(stream, peer, shared.limits.write_timeout, &shared.deadlines),
        shared: &shared,
        scanner: HeadScanner::new(shared.limits.max_head_size),
        head_deadline: None,
        state: State::new(),
        security,
    };
    match AssertUnwindSafe(connection.run()).catch_unwind().await {
        Ok(reason) => reason,
        Err(panic) => {
            error!(
                "{}: connection task panicked: {}",
                connection.io.peer(),
                dispatch::panic_message(panic.as_ref())
            );
            CloseReason::Error
        }
    }
}

struct Connection<'a, S, H> {
    io: ConnectionIo<'a, S>,
    shared: &'a Shared<H>,
    /// Where the head at the end of the read buffer ends, once it is complete.
    scanner: HeadScanner,
    /// When the head that has started to arrive must be complete.
    head_deadline: Option<Instant>,
    state: State,
    security: Security,
}

/// What the connection waited for. Large, for the response inside, and as
/// short-lived: it is dealt with before the connection waits again.
#[allow(clippy::large_enum_variant)]
enum Event<'a> {
    /// The oldest request's answer is known.
    Answer(pipeline::Request<'a>, Answered),
    /// Input arrived, or the wait for it ended.
    Input(Received),
    /// Writing failed: the state says how the connection ends.
    WriteFailed,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin, H: Handler> Connection<'a, S, H> {
    async fn run(&mut self) -> CloseReason {
        let mut pipeline = Pipeline::default();
        if self.security == Security::PlainToTlsPort {
            // As nginx and Go's net/http do, without waiting for the request.
            let error = HttpError::bad_request(
                "the plain HTTP request was sent to an HTTPS port: use https://",
            );
            self.refuse(error, &mut pipeline);
        }
        loop {
            // The event is dealt with in a block of its own, so that the large
            // answer inside it takes no room in the task while the write waits.
            let answered = {
                let event = self.next_event(&mut pipeline).await;
                self.handle(event, &mut pipeline)
            };
            if let Some(last) = answered {
                self.after_answer(last).await;
            }
            if let Some(ending) = self.state.ending() {
                return self.end(ending).await;
            }
        }
    }

    /// Starts the requests that have arrived, then waits for the next thing to do:
    /// an answer at the front of the pipeline, or input.
    async fn next_event(&mut self, pipeline: &mut Pipeline<'a>) -> Event<'a> {
        self.start_requests(pipeline);
        // What is ready is answered without waiting, so that pipelined answers leave
        // together, in one write.
        if let Some((request, answered)) = poll_once(pipeline.next_answer()).await {
            return Event::Answer(request, answered);
        }
        let flushed = self.io.flush().await;
        self.state.written(&flushed);
        if flushed.is_err() {
            return Event::WriteFailed;
        }
        self.io.release_buffers(!pipeline.is_empty());
        // Reading stops only behind a request read, so an answer is coming.
        if !self.reads_more(pipeline) {
            debug_assert!(
                !pipeline.is_empty(),
                "reading stopped with nothing to answer"
            );
            let (request, answered) = pipeline.next_answer().await;
            return Event::Answer(request, answered);
        }
        let (deadline, stopping) = self.input_deadline(pipeline);
        let input = async { Event::Input(self.io.receive(deadline, stopping).await) };
        if pipeline.is_empty() {
            return input.await;
        }
        let answer = async {
            let (request, answered) = pipeline.next_answer().await;
            Event::Answer(request, answered)
        };
        answer.or(input).await
    }

    /// Deals with what the connection waited for: encodes an answer, or takes in
    /// input. Returns, after an answer, whether it was the last one waiting.
    fn handle(&mut self, event: Event<'a>, pipeline: &mut Pipeline<'a>) -> Option<bool> {
        match event {
            Event::Answer(request, answered) => {
                let last = pipeline.is_empty();
                self.encode_answer(request, answered, last);
                Some(last)
            }
            Event::Input(received) => {
                let partial_head = !self.io.input().is_empty();
                let waiting = !pipeline.is_empty();
                if let Some(error) = self.state.input(received, partial_head, waiting) {
                    self.refuse(error, pipeline);
                }
                None
            }
            Event::WriteFailed => None,
        }
    }

    /// Whether the connection takes in another request now.
    fn reads_more(&self, pipeline: &Pipeline<'a>) -> bool {
        let shutting_down = self.shared.shutdown_requested.is_triggered();
        self.state.reads_more(pipeline.len(), shutting_down)
    }

    /// How long to wait for input: the head that has started to arrive, and a new
    /// connection's first head, must be complete by the header timeout (as nginx and
    /// Go's net/http count it); a connection that has been answered and has nothing
    /// more to answer stays open for the keep-alive timeout, or until the server stops
    /// accepting; one whose handlers are working waits for them.
    fn input_deadline(
        &mut self,
        pipeline: &Pipeline<'a>,
    ) -> (Option<Instant>, Option<&'a Shutdown>) {
        let limits = &self.shared.limits;
        let awaiting_first_head = pipeline.is_empty() && !self.state.has_served();
        if !self.io.input().is_empty() || awaiting_first_head {
            let deadline = *self
                .head_deadline
                .get_or_insert_with(|| Instant::now() + limits.header_timeout);
            (Some(deadline), None)
        } else if pipeline.is_empty() {
            let idle_deadline = Instant::now() + limits.keep_alive_timeout;
            (Some(idle_deadline), Some(&self.shared.accepting_stopped))
        } else {
            (None, None)
        }
    }

    /// Starts every request whose head has arrived, as long as the connection reads.
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
        let shared = self.shared;
        self.state.request_read(&head);
        let target = match head.asterisk {
            true => Target::Asterisk,
            false => Target::Path(head.request.url().path()),
        };
        let (route, decision) = dispatch::<H>(head.method.known(), target);
        let Head {
            request,
            method,
            request_id,
            ..
        } = head;
        let arrival = Arrival {
            method,
            request_id,
            route,
            at: received,
            peer: self.io.peer(),
            security: self.security,
        };
        let exchange = Exchange::new(
            arrival,
            &request,
            &shared.metrics,
            shared.access_log.as_ref(),
        );
        let request_read = pipeline::Request {
            exchange,
            head_only: request.method() == Method::Head,
            http10: request.version() == Some(Version::Http1_0),
        };
        let answer = match decision {
            Dispatch::Layer(answer) => Answer::Layer(answer),
            Dispatch::Handler(endpoint) => {
                let server = ServerState {
                    metrics: &shared.metrics,
                    draining: shared.shutdown_requested.is_triggered(),
                    timers: &shared.timers,
                };
                let handler = dispatch::call(&shared.handler, endpoint, request, server);
                Answer::Waiting(Box::pin(handler))
            }
        };
        pipeline.push(request_read, answer);
    }

    /// Ends the connection as the state says.
    async fn end(&mut self, ending: Ending) -> CloseReason {
        match ending {
            Ending::Graceful(reason) => {
                self.io.linger().await;
                reason
            }
            Ending::Abrupt(reason @ (CloseReason::IdleTimeout | CloseReason::Shutdown)) => {
                // An idle connection the server ends: the client is told the stream
                // ends (over TLS, with close_notify, so that it knows nothing was cut).
                let _ = self.io.close().await;
                reason
            }
            Ending::Abrupt(reason) => {
                // What is pending still goes out; the client may be reading.
                let _ = self.io.flush().await;
                reason
            }
        }
    }
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin, H: Handler> Connection<'a, S, H> {
    /// Queues the answer to what could not be read as a request; nothing after it is
    /// read.
    fn refuse(&mut self, error: HttpError, pipeline: &mut Pipeline<'a>) {
        let peer = self.io.peer();
        debug!("{peer}: {} ({})", error.status(), error.detail);
        self.state.refused(error.refusal);
        let shared = self.shared;
        let request = pipeline::Request {
            exchange: Exchange::unreadable(
                peer,
                self.security,
                &shared.metrics,
                shared.access_log.as_ref(),
            ),
            head_only: false,
            http10: false,
        };
        pipeline.push(request, Answer::Refused(error));
    }
}
