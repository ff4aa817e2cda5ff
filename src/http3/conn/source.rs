//! The connection as its rounds see it ([`StreamSource`]): streams taken up as
//! their HEADERS are read, new request streams started, and what ends a round.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::StreamExt;

use super::{Connection, Event};
use crate::handler::Handler;
use crate::http3::head::Head;
use crate::http3::state::Action;
use crate::streams::rounds::{StreamSource, Streams};
use crate::streams::stream::StreamEnd;

/// The connection, as its rounds see it: where streams come from, and what ends a
/// round.
pub(super) struct Source<'c, 'a, H, F> {
    pub(super) connection: &'c mut Connection<'a, H>,
    pub(super) shutdown: Pin<&'c mut F>,
}

impl<'a, H: Handler, F: Future<Output = ()>> StreamSource<'a> for Source<'_, 'a, H, F> {
    type Event = Event;

    fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        streams: &mut Streams<'a>,
    ) -> Poll<Result<(), Event>> {
        let connection = &mut *self.connection;
        while let Poll::Ready(Some(head)) = connection.heads.poll_next_unpin(cx) {
            match head {
                Head::Read(read) => {
                    let (request, stream) = *read;
                    connection.take(request, stream, streams);
                    return Poll::Ready(Ok(()));
                }
                head => {
                    if let Some(action) = connection.unreadable(head) {
                        return Poll::Ready(Err(Event::Abused(action)));
                    }
                }
            }
        }
        match connection.h3.poll_accept_request_stream(cx) {
            Poll::Ready(Ok(Some(stream))) => {
                connection.start_head(stream);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Err(Event::Closed(Ok(())))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(Event::Closed(Err(error)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn ended(&mut self, end: StreamEnd) -> Option<Event> {
        let connection = &mut *self.connection;
        match end {
            StreamEnd::WriteStalled => return Some(Event::WriteStalled),
            StreamEnd::Reset => connection.context.shared.metrics.http3.stream_reset(),
            StreamEnd::Answered | StreamEnd::Gone => {}
        }
        match connection.state.stream_ended(end) {
            Action::Continue => None,
            action => Some(Event::Abused(action)),
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>, _open: usize) -> Option<Event> {
        let connection = &mut *self.connection;
        if !connection.state.is_going() && self.shutdown.as_mut().poll(cx).is_ready() {
            return Some(Event::ShutdownAsked);
        }
        None
    }
}
