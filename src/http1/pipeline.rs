//! The requests read on one connection and not yet answered, oldest first. Their
//! handlers run together; their answers are taken in the order the requests came.
//!
//! The pipeline holds at most [`MAX_DEPTH`] requests, so a client that pipelines
//! without end cannot make the server hold more than that per connection.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Context, Poll};

use crate::exchange::Exchange;
use crate::exchange::answer::Work;
use crate::exchange::dispatch::Answered;

/// The most requests read ahead and not yet answered on one connection.
pub const MAX_DEPTH: usize = 16;

/// A request that was read, and what its answer needs.
pub struct RequestRead<'a> {
    /// What the metrics and the access log record.
    pub exchange: Exchange<'a>,
    /// The request was HEAD: its answer has no body.
    pub head_only: bool,
    /// The request was HTTP/1.0, whose keep-alive must be said.
    pub http10: bool,
}

/// The requests not yet answered, oldest first. The oldest sits apart from the rest,
/// so that a connection with one request at a time never allocates a queue.
#[derive(Default)]
pub struct Pipeline<'a> {
    front: Option<(RequestRead<'a>, Work<'a>)>,
    behind: VecDeque<(RequestRead<'a>, Work<'a>)>,
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

    /// Adds a request behind the others.
    pub fn push(&mut self, request: RequestRead<'a>, answer: Work<'a>) {
        debug_assert!(
            self.len() < MAX_DEPTH,
            "the connection reads at most {MAX_DEPTH} ahead"
        );
        if self.front.is_none() {
            self.front = Some((request, answer));
        } else {
            self.behind.push_back((request, answer));
        }
    }

    /// Waits until the oldest request's answer is known, and takes it; runs every
    /// waiting handler meanwhile. Never resolves while no request waits.
    pub async fn next_answer(&mut self) -> (RequestRead<'a>, Answered) {
        poll_fn(|cx| self.poll_next_answer(cx)).await
    }

    fn poll_next_answer(&mut self, cx: &mut Context<'_>) -> Poll<(RequestRead<'a>, Answered)> {
        // Handlers behind the front run too; an answer that comes early waits its turn.
        for (_, work) in &mut self.behind {
            work.poll_ahead(cx);
        }
        let answered = match &mut self.front {
            Some((_, work)) => std::task::ready!(work.poll_answer(cx)),
            None => return Poll::Pending,
        };
        let Some((request, _)) = self.front.take() else {
            return Poll::Pending;
        };
        self.front = self.behind.pop_front();
        if self.behind.is_empty() && self.behind.capacity() > 0 {
            // A burst of pipelined requests is over: give the queue's memory back.
            self.behind = VecDeque::new();
        }
        Poll::Ready((request, answered))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use async_io::Timer;
    use http_types::{Method, Response, StatusCode};

    use super::*;
    use crate::exchange::dispatch::ServerAnswer;
    use crate::exchange::{Carrier, ReadRequest, RequestId, RequestMethod};
    use crate::handler::RouteLabel;
    use crate::metrics::Metrics;
    use crate::transport::{Peer, Security};

    fn request(metrics: &Metrics) -> RequestRead<'_> {
        let read = ReadRequest {
            request: http_types::Request::new(Method::Get, "http://t/"),
            method: RequestMethod::Known(Method::Get),
            asterisk: false,
            request_id: RequestId::generate(),
        };
        let carrier = Carrier {
            peer: &Peer::Unix,
            security: Security::Plain,
            protocol: crate::connection::Protocol::Http1,
        };
        let route = RouteLabel::Unmatched;
        RequestRead {
            exchange: Exchange::new(read, route, Instant::now(), carrier, metrics, None).0,
            head_only: false,
            http10: false,
        }
    }

    fn after(millis: u64, status: StatusCode) -> Work<'static> {
        Work::Handler(Box::pin(async move {
            Timer::after(Duration::from_millis(millis)).await;
            Ok(Response::new(status))
        }))
    }

    #[test]
    fn answers_come_in_order_while_the_handlers_wait_together() {
        let metrics = Metrics::new(&[], 1, 1);
        let mut pipeline = Pipeline::default();
        pipeline.push(request(&metrics), after(200, StatusCode::Ok));
        pipeline.push(request(&metrics), after(100, StatusCode::Created));
        pipeline.push(request(&metrics), Work::Server(ServerAnswer::NotFound));
        pipeline.push(request(&metrics), after(150, StatusCode::Accepted));
        assert_eq!(pipeline.len(), 4);
        let started = Instant::now();
        let statuses: Vec<u16> = smol::block_on(async {
            let mut statuses = Vec::new();
            while !pipeline.is_empty() {
                let (_, answered) = pipeline.next_answer().await;
                statuses.push(answered.expect("no panic").status().into());
            }
            statuses
        });
        assert_eq!(statuses, [200, 201, 404, 202]);
        // Together: about the longest wait, not the sum.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(400), "took {took:?}");
        assert_eq!(pipeline.behind.capacity(), 0, "the queue is given back");
    }

    #[test]
    fn a_handler_that_finishes_behind_the_front_waits_its_turn() {
        let metrics = Metrics::new(&[], 1, 1);
        let mut pipeline = Pipeline::default();
        pipeline.push(request(&metrics), after(100, StatusCode::Ok));
        pipeline.push(request(&metrics), after(0, StatusCode::Created));
        let first = smol::block_on(async {
            Timer::after(Duration::from_millis(20)).await;
            smol::future::poll_once(pipeline.next_answer())
                .await
                .is_some()
        });
        assert!(!first, "the front is still waiting");
        assert!(matches!(pipeline.behind[0].1, Work::Finished(_)));
        let (_, answered) = smol::block_on(pipeline.next_answer());
        assert_eq!(answered.unwrap().status(), StatusCode::Ok);
        let (_, answered) = smol::block_on(pipeline.next_answer());
        assert_eq!(answered.unwrap().status(), StatusCode::Created);
    }
}
