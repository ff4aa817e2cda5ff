//! One stream's h2 handles, as the shared answer of a stream takes them
//! ([`RequestStream`]): the client's reset, the request's body to skip, the head
//! and body sent as the client's window makes room. A wait that only the client
//! can end (the rest of a body, room in a window) is counted in the [`Watch`]
//! while it lasts.

use std::future::{Future, poll_fn};
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use log::debug;

use super::io::Watch;
use crate::streams::stream::{RequestStream, ResponseSender};

/// A stream's handles: its answer's, and its request body's.
pub struct H2Stream<'w> {
    pub respond: SendResponse<Bytes>,
    pub body: RecvStream,
    pub watch: &'w Watch,
}

/// A stream whose head was sent: its body's handle.
pub struct H2Sender<'w> {
    stream: SendStream<Bytes>,
    watch: &'w Watch,
}

impl<'w> RequestStream for H2Stream<'w> {
    type Sender = H2Sender<'w>;

    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.respond.poll_reset(cx).map(|reset| {
            debug!("HTTP/2 stream reset: {reset:?}");
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    async fn skip_data(&mut self) -> Option<Result<usize, ()>> {
        let _awaiting = self.watch.awaiting_client();
        match self.body.data().await? {
            Ok(chunk) => {
                let _ = self.body.flow_control().release_capacity(chunk.len());
                Some(Ok(chunk.len()))
            }
            Err(_) => Some(Err(())),
        }
    }

    fn send_head(
        self,
        head: http::Response<()>,
        end_of_stream: bool,
    ) -> impl Future<Output = Option<H2Sender<'w>>> + Send {
        let H2Stream {
            mut respond,
            body,
            watch,
        } = self;
        drop(body);
        let sent = respond.send_response(head, end_of_stream);
        std::future::ready(sent.ok().map(|stream| H2Sender { stream, watch }))
    }
}

impl ResponseSender for H2Sender<'_> {
    async fn send_some(&mut self, body: &mut Bytes) -> bool {
        let stream = &mut self.stream;
        stream.reserve_capacity(body.len());
        let _awaiting = (stream.capacity() == 0).then(|| self.watch.awaiting_client());
        let Some(room) = room(stream).await else {
            return false;
        };
        let part = body.split_to(room.min(body.len()));
        stream.send_data(part, body.is_empty()).is_ok()
    }
}

/// Waits until the client's window lets the stream send: how many bytes it may;
/// `None` if the stream is gone.
async fn room(stream: &mut SendStream<Bytes>) -> Option<usize> {
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
