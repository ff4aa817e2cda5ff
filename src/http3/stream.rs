//! One request stream's h3 handle, as the shared answer of a stream takes it
//! ([`RequestStream`]): the client's cancel (it stops reading the answer, RFC 9114
//! §4.1.1), the request's body to read to its end, the head and the body sent as
//! quinn's flow control makes room.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use log::debug;

use super::transport::QuicBidiStream;
use crate::streams::stream::{RequestStream, ResponseSender};

/// h3's handle of a request stream.
pub type H3RequestStream = h3::server::RequestStream<QuicBidiStream<Bytes>, Bytes>;

/// A request stream, and what says that its client cancelled it.
pub struct H3Stream {
    pub stream: H3RequestStream,
    /// Done once the client stops reading the answer.
    pub stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The client has ended its side: the request's body is all in.
    pub ended: bool,
}

impl RequestStream for H3Stream {
    type Sender = H3Sender;

    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.stopped.as_mut().poll(cx).map(|()| {
            debug!("HTTP/3 stream {} cancelled", self.stream.id());
        })
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    async fn skip_data(&mut self) -> Option<Result<usize, ()>> {
        match self.stream.recv_data().await {
            Ok(Some(data)) => Some(Ok(data.remaining())),
            Ok(None) => {
                self.ended = true;
                None
            }
            Err(error) => {
                debug!("HTTP/3 stream {}: {error}", self.stream.id());
                Some(Err(()))
            }
        }
    }

    async fn send_head(
        mut self,
        head: http::Response<()>,
        end_of_stream: bool,
    ) -> Option<H3Sender> {
        self.stream.send_response(head).await.ok()?;
        let mut sender = H3Sender {
            stream: self.stream,
            stopped: self.stopped,
        };
        if end_of_stream {
            sender.finish().await.then_some(())?;
        }
        Some(sender)
    }
}

/// A stream whose head was sent.
pub struct H3Sender {
    stream: H3RequestStream,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl H3Sender {
    /// Ends the stream, and waits until the client has acknowledged all of it:
    /// a connection closed before then would lose the answer.
    async fn finish(&mut self) -> bool {
        if self.stream.finish().await.is_err() {
            return false;
        }
        (&mut self.stopped).await;
        true
    }
}

impl ResponseSender for H3Sender {
    /// Hands the whole body to quinn, which sends it as the client's flow control
    /// lets it: a body waits in quinn's send buffer, not here.
    async fn send_some(&mut self, body: &mut Bytes) -> bool {
        let part = std::mem::take(body);
        if self.stream.send_data(part).await.is_err() {
            return false;
        }
        self.finish().await
    }
}
