//! One HTTP/1.x connection: the loop that starts the requests read, waits for an
//! answer or input, and writes the answers. Its decisions are its [`State`]'s; its
//! reads and writes go through [`ConnectionIo`]; who answers a request, and the
//! request's record, are the exchange layer's.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Instant};

use http_types::{Method, Version};
use log::error;
use smol::future::{FutureExt, poll_once};
use smol::io::{AsyncRead, AsyncWrite};

use super::encode::{Envelope, encode};
use super::head::{Head, HeadScanner, decode_head};
use super::io::{ConnectionIo, Received};
use super::pipeline::{self, Pipeline};
use super::state::{Answering, Ending, State};
use crate::connection::{CloseReason, Protocol};
use crate::exchange::Carrier;
use crate::exchange::answer::panic_message;
use crate::exchange::dispatch::Answered;
use crate::exchange::refusal::HttpError;
use crate::handler::Handler;
use crate::shared::Shared;
use crate::transport::{Peer, Security};

/// Serves one connection until the client closes it, a timeout or an error ends it,
/// or shutdown finds it idle; returns why it ended. With `refusal`, the connection
/// is refused thus at once, whatever it sends. A panic inside is logged and ends
/// only this connection.
pub async fn serve<S, H>(
    stream: S,
    peer: Peer,
    security: Security,
    shared: Arc<Shared<H>>,
    refusal: Option<&'static HttpError>,
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
    match AssertUnwindSafe(connection.run(refusal))
        .catch_unwind()
        .await
    {
        Ok(reason) => reason,
        Err(panic) => {
            error!(
                "{}: connection task panicked: {}",
                connection.io.peer(),
                panic_message(panic.as_ref())
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
    async fn run(&mut self, refusal: Option<&'static HttpError>) -> CloseReason {
        let mut pipeline = Pipeline::default();
        if let Some(refusal) = refusal {
            self.refuse(refusal.clone(), &mut pipeline);
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
        let (exchange, work) = self.shared.begin(head.read, received, self.carrier());
        let request_read = pipeline::RequestRead {
            exchange,
            head_only,
            http10,
        };
        pipeline.push(request_read, work);
    }

    /// What carries this connection's requests.
    fn carrier(&self) -> Carrier<'_> {
        carrier(self.io.peer(), self.security)
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
        self.state.refused(error.refusal);
        let (exchange, work) = self.shared.refuse(error, self.carrier());
        let request = pipeline::RequestRead {
            exchange,
            head_only: false,
            http10: false,
        };
        pipeline.push(request, work);
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
        let (peer, output) = self.io.peer_and_output();
        let encoded = (self.shared).answer(
            &request.exchange,
            carrier(peer, self.security),
            answered,
            |response, fields, failed| {
                let answering = Answering {
                    last,
                    handler_failed: failed,
                    http10: request.http10,
                };
                let envelope = Envelope {
                    head_only: request.head_only,
                    connection: self.state.answering(answering),
                    fields: *fields,
                };
                encode(response, &envelope, output)
            },
        );
        match encoded {
            Ok((status, body_bytes)) => request.exchange.answered(peer, status, body_bytes),
            Err(_) => self.state.encoding_failed(),
        }
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

/// What carries the requests of an HTTP/1 connection from `peer` over `security`.
fn carrier(peer: &Peer, security: Security) -> Carrier<'_> {
    Carrier {
        peer,
        security,
        protocol: Protocol::Http1,
    }
}
