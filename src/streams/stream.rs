//! One stream, from its request to its answer, whatever the stream protocol: the
//! request checked and dispatched by the exchange layer, the handler run (and
//! dropped if the client resets the stream), the rest of the request's body read
//! and dropped, the answer sent as the client's window allows, the exchange
//! recorded. Many of a connection's streams run together in its task
//! ([`super::rounds`]).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http_types::Version;
use log::debug;

use super::request::{self, Urls};
use super::response::convert;
use crate::exchange::answer::Work;
use crate::exchange::dispatch::Answered;
use crate::exchange::{Carrier, Exchange};
use crate::handler::Handler;
use crate::shared::{MAX_SKIPPED_BODY, Shared};

/// What a stream protocol's library gives of one request stream: what the answer
/// needs of it. Implemented over h2's stream handles; h3's next.
pub trait RequestStream: Send {
    /// What sends the answer's body, once its head is sent.
    type Sender: ResponseSender;

    /// Ready once the client has reset the stream: its handler is then dropped.
    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// Whether the client has ended its side: the request's body is all in.
    fn is_end_stream(&self) -> bool;

    /// Reads the next part of the request's body and drops it: its length; `None`
    /// at the body's end; `Err` if the client reset the stream.
    fn skip_data(&mut self) -> impl Future<Output = Option<Result<usize, ()>>> + Send;

    /// Sends the answer's head, with the end of the stream when `end_of_stream`
    /// (done once the library has sent it all, or the client has it all); what the
    /// request's body left is dropped. `None` if the stream is gone.
    fn send_head(
        self,
        head: http::Response<()>,
        end_of_stream: bool,
    ) -> impl Future<Output = Option<Self::Sender>> + Send;
}

/// Sends an answer's body.
pub trait ResponseSender: Send {
    /// Sends the first part of `body` the client's window makes room for, and takes
    /// it off; the last part ends the stream (done once the library has sent it
    /// all, or the client has it all). `false` if the stream is gone.
    fn send_some(&mut self, body: &mut Bytes) -> impl Future<Output = bool> + Send;
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Its answer was handed to the library.
    Answered,
    /// The client reset it before its answer was sent.
    Reset,
    /// It went away while its answer was sent (a reset, or the connection going).
    Gone,
    /// The client gave the answer no room (a zero flow-control window) for longer
    /// than the write timeout.
    WriteStalled,
}

/// A stream's answer, running in the connection's task.
pub type StreamFuture<'a> = Pin<Box<dyn Future<Output = StreamEnd> + Send + 'a>>;

/// What a stream's answer needs of its connection.
pub struct StreamContext<'a, H> {
    pub shared: &'a Shared<H>,
    pub carrier: Carrier<'a>,
    /// The version its requests say they are.
    pub version: Version,
}

/// Answers one stream, whose request head is `parts`. The request is checked,
/// dispatched and its handler started at once, and its head dropped, so that what
/// a waiting stream holds is its exchange's record, the handler's work and the
/// library's handles. The rest of the answer, sized for a body still arriving and
/// one sent as the client's window allows, is boxed apart once the handler is
/// done.
pub fn answer<'a, H: Handler, S: RequestStream + 'a>(
    context: &'a StreamContext<'a, H>,
    urls: &mut Urls,
    parts: Parts,
    mut stream: S,
) -> StreamFuture<'a> {
    let received = Instant::now();
    let head_only = parts.method == http::Method::HEAD;
    let (exchange, mut work) = start(context, urls, &parts, received);
    drop(parts);
    Box::pin(async move {
        // In a block of its own, so that the answer is not held across the wait
        // for its delivery.
        let delivery = {
            let answered = poll_fn(|cx| match work.poll_answer(cx) {
                Poll::Ready(answered) => Poll::Ready(Some(answered)),
                Poll::Pending => stream.poll_reset(cx).map(|()| {
                    debug!("{}: stream reset by the client", context.carrier.peer);
                    None
                }),
            })
            .await;
            drop(work);
            let Some(answered) = answered else {
                return StreamEnd::Reset;
            };
            Box::pin(deliver(context, exchange, answered, head_only, stream))
        };
        delivery.await
    })
}

/// Checks and dispatches a stream's request, and starts its answer: the server's
/// own, a refusal, or the handler's work.
fn start<'a, H: Handler>(
    context: &StreamContext<'a, H>,
    urls: &mut Urls,
    parts: &Parts,
    received: Instant,
) -> (Exchange<'a>, Work<'a>) {
    match request::read(parts, urls, context.version) {
        Ok(read) => context.shared.begin(read, received, context.carrier),
        Err(refused) => context.shared.refuse(refused, context.carrier),
    }
}

/// Once the answer is known: skips what is left of the request's body, then sends
/// the answer and records it.
async fn deliver<H: Handler, S: RequestStream>(
    context: &StreamContext<'_, H>,
    exchange: Exchange<'_>,
    answered: Answered,
    head_only: bool,
    mut stream: S,
) -> StreamEnd {
    if !skip_body(&mut stream, context.shared).await {
        return StreamEnd::Reset;
    }
    let (shared, carrier) = (context.shared, context.carrier);
    let converted = shared.answer(&exchange, carrier, answered, |response, fields, _| {
        convert(response, head_only, fields)
    });
    let Ok((status, (head, body))) = converted else {
        // Not even the 500 could be converted: nothing to send.
        return StreamEnd::Gone;
    };
    let body_bytes = body.len();
    // A head, as a body, may wait for the client's flow control.
    let deadline = Instant::now() + shared.rules.limits.write_timeout;
    let head_sent = stream.send_head(head, body.is_empty());
    let mut sender = match shared.timeouts.run_until(Some(deadline), head_sent).await {
        Some(Some(sender)) => sender,
        Some(None) => return StreamEnd::Gone,
        None => return StreamEnd::WriteStalled,
    };
    if let Err(end) = send_body(&mut sender, body, shared).await {
        return end;
    }
    exchange.answered(carrier.peer, status, body_bytes);
    StreamEnd::Answered
}

/// Reads the request's body, which no route takes, and drops it: up to
/// `MAX_SKIPPED_BODY` bytes within the header timeout, so that a stream is
/// answered once the client has ended it, and a malformed end (RFC 9113 §8.1) is
/// found first. A longer or slower body is left: the library resets its stream
/// with NO_ERROR once it is answered. `false` if the client reset the stream.
async fn skip_body<H, S: RequestStream>(stream: &mut S, shared: &Shared<H>) -> bool {
    if stream.is_end_stream() {
        return true;
    }
    let skip = async {
        let mut skipped = 0;
        while !stream.is_end_stream() && skipped <= MAX_SKIPPED_BODY {
            match stream.skip_data().await {
                Some(Ok(length)) => skipped += length as u64,
                Some(Err(())) => return false,
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

/// Sends the body as the client's window makes room for each part; a window that
/// stays shut for the write timeout ends the connection.
async fn send_body<H, S: ResponseSender>(
    sender: &mut S,
    mut body: Bytes,
    shared: &Shared<H>,
) -> Result<(), StreamEnd> {
    let write_timeout = shared.rules.limits.write_timeout;
    while !body.is_empty() {
        let deadline = Instant::now() + write_timeout;
        let sent = shared
            .timeouts
            .run_until(Some(deadline), sender.send_some(&mut body));
        match sent.await {
            None => return Err(StreamEnd::WriteStalled),
            Some(false) => return Err(StreamEnd::Gone),
            Some(true) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::app::Toy;
    use crate::connection::Protocol;
    use crate::metrics::Metrics;
    use crate::shutdown::Shutdown;
    use crate::testing::default_limits;
    use crate::transport::{Peer, Security};

    /// What a stream of a made-up protocol was sent: its status, and its body's
    /// parts.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Sent {
        status: Option<u16>,
        parts: Vec<Vec<u8>>,
    }

    /// A stream of a made-up protocol: a body of parts still to arrive, reset or
    /// not, and a window of 5 bytes at a time.
    struct MadeUpStream {
        reset: bool,
        body: Vec<usize>,
        sent: Arc<Mutex<Sent>>,
    }

    impl RequestStream for MadeUpStream {
        type Sender = Arc<Mutex<Sent>>;

        fn poll_reset(&mut self, _: &mut Context<'_>) -> Poll<()> {
            match self.reset {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        }

        fn is_end_stream(&self) -> bool {
            self.body.is_empty()
        }

        async fn skip_data(&mut self) -> Option<Result<usize, ()>> {
            self.body.pop().map(Ok)
        }

        async fn send_head(self, head: http::Response<()>, _: bool) -> Option<Self::Sender> {
            self.sent.lock().unwrap().status = Some(head.status().as_u16());
            Some(self.sent)
        }
    }

    impl ResponseSender for Arc<Mutex<Sent>> {
        async fn send_some(&mut self, body: &mut Bytes) -> bool {
            let part = body.split_to(body.len().min(5));
            self.lock().unwrap().parts.push(part.to_vec());
            true
        }
    }

    /// Answers `uri` on a stream of the made-up protocol; how it ended, what it
    /// was sent, and the requests left in flight.
    fn answer_made_up(uri: &str, reset: bool) -> (StreamEnd, Sent, String) {
        let toy = Toy::new(Duration::from_secs(60));
        let metrics = Metrics::new(&crate::handler::route_paths::<Toy>(), 1, 1);
        let shared = Shared::new(toy, default_limits(), metrics, None, Shutdown::new());
        let context = StreamContext {
            shared: &shared,
            carrier: Carrier {
                peer: &Peer::Unix,
                security: Security::Plain,
                protocol: Protocol::Http2,
            },
            version: Version::Http2_0,
        };
        let sent = Arc::new(Mutex::new(Sent::default()));
        let stream = MadeUpStream {
            reset,
            body: vec![3, 4],
            sent: Arc::clone(&sent),
        };
        let parts = http::Request::get(uri).body(()).unwrap().into_parts().0;
        let answer = answer(&context, &mut Urls::default(), parts, stream);
        let end = smol::block_on(answer);
        let metrics = shared.metrics.render();
        let in_flight = (metrics.lines())
            .find(|line| line.starts_with("smol_toy_http_requests_in_flight "))
            .unwrap_or_default()
            .to_owned();
        let sent = std::mem::take(&mut *sent.lock().unwrap());
        (end, sent, in_flight)
    }

    #[test]
    fn a_made_up_stream_protocol_is_answered_by_the_shared_life() {
        let (end, sent, in_flight) = answer_made_up("http://t/healthz", false);
        assert_eq!(end, StreamEnd::Answered);
        assert_eq!(sent.status, Some(200));
        let parts: Vec<&[u8]> = sent.parts.iter().map(Vec::as_slice).collect();
        assert_eq!(
            parts,
            [&b"{\"sta"[..], b"tus\":", b"\"ok\"}"],
            "in the window's parts"
        );
        assert_eq!(in_flight, "smol_toy_http_requests_in_flight 0");
        // A request the field rules refuse gets its status from the shared table.
        let (end, sent, _) = answer_made_up("/healthz", false);
        assert_eq!((end, sent.status), (StreamEnd::Answered, Some(400)));
    }

    #[test]
    fn a_reset_drops_the_waiting_handler_and_its_exchange() {
        let (end, sent, in_flight) = answer_made_up("http://t/toy", true);
        assert_eq!(end, StreamEnd::Reset);
        assert_eq!(sent, Sent::default(), "nothing sent");
        assert_eq!(in_flight, "smol_toy_http_requests_in_flight 0");
    }
}
