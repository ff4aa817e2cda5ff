//! A request stream's HEADERS, read through h3 within the header timeout: the
//! request's head and its stream, or why there is none. A stream whose HEADERS
//! do not come in time is reset with H3_REQUEST_INCOMPLETE.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use h3::error::{Code, StreamError};
use h3::frame::FrameStream;
use h3::quic::{RecvStream as _, SendStream as _};
use h3::server::RequestResolver;
use h3::stream::BufRecvStream;

use super::stream::{H3RequestStream, H3Stream};
use super::transport::{QuicBidiStream, QuicConnection};
use crate::timing_wheel::TimingWheel;

type Resolver = RequestResolver<QuicConnection, Bytes>;

/// A request stream whose HEADERS are being read.
pub type HeadFuture<'a> = Pin<Box<dyn Future<Output = Head> + Send + 'a>>;

/// What a request stream's HEADERS came to.
pub enum Head {
    /// The request's head, and its stream.
    Read(Box<(http::Request<()>, H3Stream)>),
    /// No HEADERS within the header timeout: the stream was reset.
    TimedOut,
    /// h3 could not read them (it answered, reset the stream or closed the
    /// connection, as the error asked).
    Unreadable(StreamError),
}

/// Reads the HEADERS of `stream`, which `h3` handed over, until `deadline`.
pub fn read<'a>(
    h3: &h3::server::Connection<QuicConnection, Bytes>,
    stream: QuicBidiStream<Bytes>,
    timeouts: &'a TimingWheel,
    deadline: Instant,
) -> HeadFuture<'a> {
    let stopped = Box::pin(stream.send.stopped());
    let resolver = h3.create_resolver(FrameStream::new(BufRecvStream::new(stream)));
    Box::pin(async move {
        match timeouts
            .run_until(Some(deadline), read_head(resolver))
            .await
        {
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
    })
}

/// Reads a request stream's HEADERS; the stream is reset with
/// H3_REQUEST_INCOMPLETE if they do not arrive in time (the future is dropped).
async fn read_head(
    resolver: Resolver,
) -> Result<(http::Request<()>, H3RequestStream), StreamError> {
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
