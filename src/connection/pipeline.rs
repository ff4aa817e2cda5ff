//! The requests read on one connection and not yet answered, oldest first. Their
//! handlers run together; their answers are taken in the order the requests came.
//!
//! The pipeline holds at most [`MAX_DEPTH`] requests, so a client that pipelines
//! without end cannot make the server hold more than that per connection.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use http_types::Method;

use super::HttpError;
use super::dispatch::{Answered, LayerAnswer};
use super::encode::Persistence;
use super::exchange::Exchange;
use super::head::Framing;

/// The most requests read ahead and not yet answered on one connection.
pub const MAX_DEPTH: usize = 16;

/// A handler's work on one request. Boxed: the pipeline holds several, and one that
/// is not running takes no room in the connection's task.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Answered> + Send + 'a>>;

/// A request that was read, and what its answer needs.
pub struct Request<'a> {
    /// What the metrics and the access log record.
    pub exchange: Exchange<'a>,
    /// The method the answer is encoded for (a HEAD answer has no body).
    pub method: Method,
    /// Whether the connection may stay open after the answer, as far as the request
    /// goes.
    pub persistence: Persistence,
    /// The body that follows the head, skipped after the answer.
    pub framing: Framing,
}

/// Where a request's answer comes from.
pub enum Answer<'a> {
    /// The connection layer's own answer, built when it is sent.
    Layer(LayerAnswer),
    /// The request could not be read: this error is the answer.
    Refused(HttpError),
    /// The handler is working on it.
    Waiting(HandlerFuture<'a>),
    /// The handler finished while an earlier request was still waiting.
    Finished(Box<Answered>),
}

/// An answer that is known, at the front of the pipeline. Large, but only ever
/// handed from the pipeline to the encoder, never held while the connection waits.
#[allow(clippy::large_enum_variant)]
pub enum Ready {
    /// The connection layer's own answer.
    Layer(LayerAnswer),
    /// The request could not be read.
    Refused(HttpError),
    /// The handler's response, or what it panicked with.
    Handler(Answered),
}

/// The requests not yet answered, oldest first. The oldest sits apart from the rest,
/// so that a connection with one request at a time never allocates a queue.
#[derive(Default)]
pub struct Pipeline<'a> {
    front: Option<(Request<'a>, Answer<'a>)>,
    behind: VecDeque<(Request<'a>, Answer<'a>)>,
}

impl<'a> Pipeline<'a> {
    /// How many requests wait for their answer.
    pub fn len(&self) -> usize {
        usize::from(self.front.is_some()) + self.behind.len()
    }

    /// Whether every request read has been answered.
    pub fn is_empty(&self) -> bool {
        self.front.is_none()
    }

    /// Whether another request may be read ahead.
    pub fn has_room(&self) -> bool {
        self.len() < MAX_DEPTH
    }

    /// Adds a request behind the others.
    pub fn push(&mut self, request: Request<'a>, answer: Answer<'a>) {
        if self.front.is_none() {
            self.front = Some((request, answer));
        } else {
            self.behind.push_back((request, answer));
        }
    }

    /// Waits until the oldest request's answer is known, and takes it; runs every
    /// waiting handler meanwhile. `None` when no request is waiting.
    pub async fn next_answer(&mut self) -> Option<(Request<'a>, Ready)> {
        poll_fn(|cx| self.poll_next_answer(cx)).await
    }

    fn poll_next_answer(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Request<'a>, Ready)>> {
        // Handlers behind the front run too; an answer that comes early waits its turn.
        for (_, answer) in &mut self.behind {
            if let Answer::Waiting(handler) = answer
                && let Poll::Ready(answered) = handler.as_mut().poll(cx)
            {
                *answer = Answer::Finished(Box::new(answered));
            }
        }
        let Some((_, answer)) = &mut self.front else {
            return Poll::Ready(None);
        };
        let handled = match answer {
            Answer::Waiting(handler) => match handler.as_mut().poll(cx) {
                Poll::Ready(answered) => Some(answered),
                Poll::Pending => return Poll::Pending,
            },
            _ => None,
        };
        let (request, answer) = self.front.take().expect("checked above");
        self.front = self.behind.pop_front();
        if self.behind.is_empty() && self.behind.capacity() > 0 {
            // A burst of pipelined requests is over: give the queue's memory back.
            self.behind = VecDeque::new();
        }
        let ready = match (answer, handled) {
            (_, Some(answered)) => Ready::Handler(answered),
            (Answer::Finished(answered), None) => Ready::Handler(*answered),
            (Answer::Layer(layer), None) => Ready::Layer(layer),
            (Answer::Refused(error), None) => Ready::Refused(error),
            (Answer::Waiting(_), None) => unreachable!("a waiting handler is polled above"),
        };
        Poll::Ready(Some((request, ready)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use async_io::Timer;
    use http_types::{Response, StatusCode};

    use super::*;
    use crate::connection::{Peer, Shared};
    use crate::metrics::RouteLabel;

    fn status_of(ready: &Ready) -> Option<u16> {
        match ready {
            Ready::Handler(Ok(response)) => Some(u16::from(response.status())),
            _ => None,
        }
    }

    fn shared() -> Arc<Shared<crate::app::Toy>> {
        let server = crate::testing::InMemoryServer::new(
            crate::app::Toy::new(Duration::ZERO),
            crate::testing::default_limits(),
        );
        server.shared()
    }

    fn request<'a>(shared: &'a Shared<crate::app::Toy>) -> Request<'a> {
        let head = http_types::Request::new(Method::Get, "http://t/");
        let exchange = Exchange::new(
            &head,
            super::super::head::RequestMethod::Known(Method::Get),
            super::super::request_id::RequestId::generate(),
            RouteLabel::Unmatched,
            Instant::now(),
            Peer::Unix,
            shared,
        );
        Request {
            exchange,
            method: Method::Get,
            persistence: Persistence::KeepAlive,
            framing: Framing::Empty,
        }
    }

    fn after(millis: u64, status: StatusCode) -> Answer<'static> {
        Answer::Waiting(Box::pin(async move {
            Timer::after(Duration::from_millis(millis)).await;
            Ok(Response::new(status))
        }))
    }

    #[test]
    fn answers_come_in_order_while_the_handlers_wait_together() {
        let shared = shared();
        let mut pipeline = Pipeline::default();
        pipeline.push(request(&shared), after(200, StatusCode::Ok));
        pipeline.push(request(&shared), after(100, StatusCode::Created));
        pipeline.push(request(&shared), Answer::Layer(LayerAnswer::NotFound));
        pipeline.push(request(&shared), after(150, StatusCode::Accepted));
        assert_eq!(pipeline.len(), 4);
        let started = Instant::now();
        let statuses: Vec<_> = smol::block_on(async {
            let mut statuses = Vec::new();
            while let Some((_, ready)) = pipeline.next_answer().await {
                statuses.push(status_of(&ready));
            }
            statuses
        });
        assert_eq!(statuses, [Some(200), Some(201), None, Some(202)]);
        // Together: about the longest wait, not the sum.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(400), "took {took:?}");
        assert!(pipeline.is_empty());
        assert_eq!(pipeline.behind.capacity(), 0, "the queue is given back");
    }

    #[test]
    fn the_depth_is_bounded() {
        let shared = shared();
        let mut pipeline = Pipeline::default();
        for _ in 0..MAX_DEPTH {
            assert!(pipeline.has_room());
            pipeline.push(request(&shared), Answer::Layer(LayerAnswer::NotFound));
        }
        assert!(!pipeline.has_room());
    }
}
