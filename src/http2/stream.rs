//! One stream, from its request to its answer: the request checked and dispatched
//! by the exchange layer, the handler run (and dropped if the client resets the
//! stream), the response sent, the exchange recorded. Many of a connection's
//! streams run together in its task.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::request::Parts;
use http_types::StatusCode;
use log::{debug, error};

use super::io::Watch;
use super::request::{self, Refused, Urls};
use super::response::convert;
use crate::connection::Protocol;
use crate::exchange::dispatch::{self, Answered, Dispatch, HandlerFuture, ServerAnswer};
use crate::exchange::errors::error_response;
use crate::exchange::fields::AnswerFields;
use crate::exchange::{Arrival, Exchange};
use crate::handler::Handler;
use crate::shared::{MAX_SKIPPED_BODY, Shared};
use crate::transport::{Peer, Security};

/// What a stream's answer needs of its connection.
pub struct StreamContext<'a, H> {
    pub shared: &'a Shared<H>,
    pub peer: &'a Peer,
    pub security: Security,
    pub watch: &'a Watch,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Its answer was handed to h2.
    Answered,
    /// The client reset it first, or the connection is going.
    Reset,
    /// The client gave the answer no room (a zero flow-control window) for longer
    /// than the write timeout.
    WriteStalled,
}

/// A stream's answer, running in the connection's task.
pub type StreamFuture<'a> = Pin<Box<dyn Future<Output = StreamEnd> + Send + 'a>>;

/// Where a stream's answer comes from. Small: every waiting stream holds one.
enum Work<'a> {
    /// The server's own (404, 405, OPTIONS…), built when it is sent.
    Server(ServerAnswer),
    /// The request broke a rule: this error is the answer.
    Refused(Refused),
    /// The handler's, boxed.
    Handler(HandlerFuture<'a>),
}

impl Work<'_> {
    /// Polls for the answer: the server's own, and a refusal, are ready at once.
    fn poll_answer(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Answered> {
        match self {
            Work::Handler(handler) => handler.as_mut().poll(cx),
            Work::Server(answer) => {
                let answer = std::mem::replace(answer, ServerAnswer::NotFound);
                Poll::Ready(Ok(answer.response()))
            }
            Work::Refused(refused) => {
                let response = error_response(refused.status, Some(&refused.detail));
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// Answers one stream. The request is checked, dispatched and its handler started
/// at once, and its head dropped, so that what a waiting stream holds is its
/// exchange's record, the handler's work and h2's two handles (232 bytes, in
/// `RUSTC_BOOTSTRAP=1 cargo rustc --release --bin smol-toy -- -Zprint-type-sizes`).
/// The rest of the answer, sized for a body still arriving and one sent as the
/// client's window allows, is boxed apart once the handler is done.
pub fn answer<'a, H: Handler>(
    context: &'a StreamContext<'a, H>,
    urls: &mut Urls,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> StreamFuture<'a> {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let head_only = parts.method == http::Method::HEAD;
    let (exchange, mut work) = start(context, urls, &parts, received);
    drop(parts);
    Box::pin(async move {
        // In a block of its own, so that the answer is not held across the wait
        // for its delivery.
        let delivery = {
            let answered = poll_fn(|cx| match work.poll_answer(cx) {
                Poll::Ready(answered) => Poll::Ready(Some(answered)),
                Poll::Pending => respond.poll_reset(cx).map(|reset| {
                    debug!("{}: stream reset by the client: {reset:?}", context.peer);
                    None
                }),
            })
            .await;
            drop(work);
            let Some(answered) = answered else {
                context.shared.metrics.http2.stream_reset();
                return StreamEnd::Reset;
            };
            Box::pin(deliver(
                context, exchange, answered, head_only, body, respond,
            ))
        };
        delivery.await
    })
}

/// Checks and dispatches a stream's request, and starts its answer: the server's
/// own, or the handler's work.
fn start<'a, H: Handler>(
    context: &StreamContext<'a, H>,
    urls: &mut Urls,
    parts: &Parts,
    received: Instant,
) -> (Exchange<'a>, Work<'a>) {
    let (peer, security) = (context.peer, context.security);
    let read = match request::read(parts, urls) {
        Ok(read) => read,
        Err(refused) => {
            debug!("{peer}: {} on HTTP/2 ({})", refused.status, refused.detail);
            let exchange = context.shared.unreadable(peer, security, Protocol::Http2);
            return (exchange, Work::Refused(refused));
        }
    };
    let arrival = Arrival {
        at: received,
        peer,
        security,
        protocol: Protocol::Http2,
    };
    let (exchange, answer) = context.shared.begin(read, arrival);
    let work = match answer {
        Dispatch::Server(answer) => Work::Server(answer),
        Dispatch::Handler(future) => Work::Handler(future),
    };
    (exchange, work)
}

/// Once the answer is known: skips what is left of the request's body, then sends
/// the answer and records it.
async fn deliver<H: Handler>(
    context: &StreamContext<'_, H>,
    exchange: Exchange<'_>,
    answered: Answered,
    head_only: bool,
    mut body: RecvStream,
    mut respond: SendResponse<Bytes>,
) -> StreamEnd {
    if !skip_body(&mut body, context.shared, context.watch).await {
        context.shared.metrics.http2.stream_reset();
        return StreamEnd::Reset;
    }
    drop(body);
    send(context, &exchange, answered, head_only, &mut respond).await
}

/// Reads the request's body, which no route takes, and drops it: up to
/// `MAX_SKIPPED_BODY` bytes within the header timeout, so that a stream is
/// answered once the client has ended it, and a malformed end (RFC 9113 §8.1) is
/// found first. A longer or slower body is left: h2 resets its stream with
/// NO_ERROR once it is answered. `false` if the client reset the stream.
async fn skip_body<H>(body: &mut RecvStream, shared: &Shared<H>, watch: &Watch) -> bool {
    if body.is_end_stream() {
        return true;
    }
    let _awaiting = watch.awaiting_client();
    let skip = async {
        let mut skipped = 0;
        while !body.is_end_stream() && skipped <= MAX_SKIPPED_BODY {
            match body.data().await {
                Some(Ok(chunk)) => {
                    skipped += chunk.len() as u64;
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                Some(Err(_)) => return false,
                None => break,
            }
        }
        true
    };
    let deadline = Instant::now() + shared.rules.limits.header_timeout;
    shared
        .timeouts
        .run_until(Some(deadline), skip)
        .await
        .unwrap_or(true)
}

/// Sends the answer, and records it.
async fn send<H: Handler>(
    context: &StreamContext<'_, H>,
    exchange: &Exchange<'_>,
    answered: Answered,
    head_only: bool,
    respond: &mut SendResponse<Bytes>,
) -> StreamEnd {
    let shared = context.shared;
    let id = exchange.request_id();
    let response = answered.unwrap_or_else(|panic| {
        let message = dispatch::panic_message(panic.as_ref());
        error!(
            "{}: handler panicked on request {}: {message}",
            context.peer,
            id.as_str()
        );
        dispatch::handler_failed()
    });
    let fields = AnswerFields {
        request_id: id,
        every_answer: H::RESPONSE_FIELDS,
        hsts: context.security.tls_version().and(shared.hsts.as_deref()),
    };
    let status = response.status();
    let (status, (head, body)) = match convert(response, head_only, &fields) {
        Ok(converted) => (status, converted),
        Err(error) => {
            error!(
                "{}: cannot send a {status} response to request {}: {error}; answering 500",
                context.peer,
                id.as_str()
            );
            let failed = dispatch::handler_failed();
            let converted = convert(failed, head_only, &fields).expect("the 500 converts");
            (StatusCode::InternalServerError, converted)
        }
    };
    let bytes = body.len();
    let end_of_stream = body.is_empty();
    let Ok(mut stream) = respond.send_response(head, end_of_stream) else {
        return StreamEnd::Reset;
    };
    if let Err(end) = send_body(&mut stream, body, shared, context.watch).await {
        return end;
    }
    exchange.answered(context.peer, status, bytes);
    StreamEnd::Answered
}

/// Sends the body as the client's window makes room for each part; a window that
/// stays shut for the write timeout ends the connection.
async fn send_body<H>(
    stream: &mut h2::SendStream<Bytes>,
    mut body: Bytes,
    shared: &Shared<H>,
    watch: &Watch,
) -> Result<(), StreamEnd> {
    let write_timeout = shared.rules.limits.write_timeout;
    while !body.is_empty() {
        stream.reserve_capacity(body.len());
        let deadline = Instant::now() + write_timeout;
        let _awaiting = (stream.capacity() == 0).then(|| watch.awaiting_client());
        let part = match shared
            .timeouts
            .run_until(Some(deadline), room(stream))
            .await
        {
            None => return Err(StreamEnd::WriteStalled),
            Some(None) => return Err(StreamEnd::Reset),
            Some(Some(room)) => body.split_to(room.min(body.len())),
        };
        if stream.send_data(part, body.is_empty()).is_err() {
            return Err(StreamEnd::Reset);
        }
    }
    Ok(())
}

/// Waits until the client's window lets the stream send: how many bytes it may;
/// `None` if the stream is gone.
async fn room(stream: &mut h2::SendStream<Bytes>) -> Option<usize> {
    poll_fn(|cx| {
        loop {
            if stream.capacity() > 0 {
                return Poll::Ready(Some(stream.capacity()));
            }
            match stream.poll_capacity(cx) {
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}
