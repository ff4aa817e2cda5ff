//! One HTTP/1.x connection: the loop that starts the requests read, waits for an
//! answer or input, and writes the answers. Its decisions are its [`State`]'s; its
//! reads and writes go through [`ConnectionIo`]; who answers a request, and the
//! request's record, are the exchange layer's.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Instant};

use http_types::{Method, Response, Version};
use log::{debug, error};
use smol::future::{FutureExt, poll_once};
use smol::io::{AsyncRead, AsyncWrite};

use super::encode::{Envelope, encode};
use super::error::HttpError;
use super::head::{Head, HeadScanner, decode_head};
use super::io::{ConnectionIo, Received};
use super::pipeline::{self, Pipeline, Work};
use super::state::{Answering, Ending, State};
use crate::connection::{CloseReason, Protocol};
use crate::exchange::Arrival;
use crate::exchange::dispatch::{self, Answered, Dispatch};
use crate::exchange::fields::AnswerFields;
use crate::exchange::sendable::Unsendable;
use crate::handler::Handler;
use crate::shared::Shared;
use crate::transport::{Peer, Security};

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
    let limits = &shared.rules.limits;
    let mut connection = Connection {
        io: ConnectionIo::new(stream, peer, limits.write_timeout, &shared.timeouts),
        shared: &shared,
        scanner: HeadScanner::new(limits.max_head_size),
        state: State::new(&shared.rules),
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
    state: State<'a>,
    security: Security,
}

/// What the connection waited for. Large, for the response inside, and as
/// short-lived: it is dealt with before the connection waits again.
#[allow(clippy::large_enum_variant)]
enum Event<'a> {
    /// The oldest request's answer is known.
    Answer(pipeline::RequestRead<'a>, Answered),
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
        if !self.state.reads_more(pipeline.len()) {
            debug_assert!(
                !pipeline.is_empty(),
                "reading stopped with nothing to answer"
            );
            let (request, answered) = pipeline.next_answer().await;
            return Event::Answer(request, answered);
        }
        let partial_head = !self.io.input().is_empty();
        let (deadline, stopping) = self.state.input_wait(partial_head, pipeline.len());
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

    /// Starts every request whose head has arrived, as long as the connection reads.
    fn start_requests(&mut self, pipeline: &mut Pipeline<'a>) {
        while self.state.reads_more(pipeline.len()) {
            match self.scanner.scan(self.io.input()) {
                Ok(None) => return,
                Ok(Some(len)) => {
                    let received = Instant::now();
                    let decoded = decode_head(&self.io.input()[..len]);
                    self.io.consume(len);
                    self.scanner = HeadScanner::new(self.shared.rules.limits.max_head_size);
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
        self.state.request_read(&head);
        let request = &head.read.request;
        let head_only = request.method() == Method::Head;
        let http10 = request.version() == Some(Version::Http1_0);
        let arrival = Arrival {
            at: received,
            peer: self.io.peer(),
            security: self.security,
            protocol: Protocol::Http1,
        };
        let (exchange, answer) = self.shared.begin(head.read, arrival);
        let request_read = pipeline::RequestRead {
            exchange,
            head_only,
            http10,
        };
        let answer = match answer {
            Dispatch::Server(answer) => Work::Server(answer),
            Dispatch::Handler(future) => Work::Waiting(future),
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

    /// Queues the answer to what could not be read as a request; nothing after it is
    /// read.
    fn refuse(&mut self, error: HttpError, pipeline: &mut Pipeline<'a>) {
        let peer = self.io.peer();
        debug!("{peer}: {} ({})", error.status(), error.detail);
        self.state.refused(error.refusal);
        let request = pipeline::RequestRead {
            exchange: self.shared.unreadable(peer, self.security, Protocol::Http1),
            head_only: false,
            http10: false,
        };
        pipeline.push(request, Work::Refused(error));
    }

    /// Encodes the answer to the oldest request (`last`: no other request waits)
    /// behind those not yet written, and records it. Not `async`: the response is
    /// large, and is gone before the connection waits again.
    fn encode_answer(
        &mut self,
        request: pipeline::RequestRead<'a>,
        answered: Answered,
        last: bool,
    ) {
        let id = request.exchange.request_id();
        let (response, failed) = match answered {
            Ok(response) => (response, false),
            Err(panic) => {
                let message = dispatch::panic_message(panic.as_ref());
                error!(
                    "{}: handler panicked on request {}: {message}",
                    self.io.peer(),
                    id.as_str()
                );
                (dispatch::handler_failed(), true)
            }
        };
        let mut status = response.status();
        let mut written = self.encode(&request, response, last, failed);
        if let Err(error) = &written {
            error!(
                "{}: cannot write a {status} response to request {}: {error}; answering 500",
                self.io.peer(),
                id.as_str()
            );
            let failure = dispatch::handler_failed();
            status = failure.status();
            written = self.encode(&request, failure, last, true);
        }
        match written {
            Ok(bytes) => request.exchange.answered(self.io.peer(), status, bytes),
            Err(_) => self.state.encoding_failed(),
        }
    }

    /// Encodes `response` into the output buffer; returns its size.
    fn encode(
        &mut self,
        request: &pipeline::RequestRead<'a>,
        response: Response,
        last: bool,
        failed: bool,
    ) -> Result<usize, Unsendable> {
        let answering = Answering {
            last,
            handler_failed: failed,
            http10: request.http10,
        };
        let connection = self.state.answering(answering);
        let envelope = Envelope {
            head_only: request.head_only,
            connection,
            fields: AnswerFields {
                request_id: request.exchange.request_id(),
                every_answer: H::RESPONSE_FIELDS,
                hsts: self.security.tls_version().and(self.shared.hsts.as_deref()),
            },
        };
        let before = self.io.output().len();
        encode(response, &envelope, self.io.output())?;
        Ok(self.io.output().len() - before)
    }

    /// Applies the write policy (`io`) to the answer just encoded, then, after the
    /// `last` one, skips the request's body if the connection stays open.
    async fn after_answer(&mut self, last: bool) {
        let written = self.io.queued(self.state.ending().is_some()).await;
        self.state.written(&written);
        if let Some((length, deadline)) = self.state.body_to_skip(last) {
            let skipped = self.io.skip(length, deadline).await;
            self.state.body_skipped(skipped);
        }
    }
}
