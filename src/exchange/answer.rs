//! A request's answer, whatever its protocol: what it waits on ([`Work`]: the
//! server's own answer, a refusal, or the handler's work), and the response that
//! is sent for it ([`respond`]): the handler's, or 500 when the handler panicked or
//! its response cannot be sent.

use std::any::Any;
use std::task::{Context, Poll};

use http_types::{Response, StatusCode};
use log::error;

use super::dispatch::{Answered, HandlerFuture, ServerAnswer};
use super::errors::error_response;
use super::fields::AnswerFields;
use super::refusal::HttpError;
use super::sendable::Unsendable;
use crate::transport::Peer;

/// What a request's answer waits on. Small: every waiting request holds one.
pub enum Work<'a> {
    /// The server's own answer (404, 405, OPTIONS…), built when it is sent.
    Server(ServerAnswer),
    /// The request could not be read, or broke a rule: this error is the answer.
    Refused(HttpError),
    /// The handler is working on it.
    Handler(HandlerFuture<'a>),
    /// The handler finished, and its answer waits its turn (behind an earlier
    /// request's, over HTTP/1).
    Finished(Box<Answered>),
}

impl Work<'_> {
    /// Polls for the answer: all but the handler's are ready at once, and are
    /// taken (the work is spent once it has answered).
    #[inline]
    pub fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Answered> {
        if let Work::Handler(handler) = self {
            return handler.as_mut().poll(cx);
        }
        let spent = Work::Server(ServerAnswer::NotFound);
        Poll::Ready(match std::mem::replace(self, spent) {
            Work::Server(answer) => Ok(answer.response()),
            Work::Refused(error) => Ok(error.response()),
            Work::Finished(answered) => *answered,
            Work::Handler(mut handler) => {
                let answered = handler.as_mut().poll(cx);
                *self = Work::Handler(handler);
                return answered;
            }
        })
    }

    /// Runs the handler, if it works still, and keeps its answer once it is done:
    /// for a request whose answer is not yet to be sent.
    pub fn poll_ahead(&mut self, cx: &mut Context<'_>) {
        if let Work::Handler(handler) = self
            && let Poll::Ready(answered) = handler.as_mut().poll(cx)
        {
            *self = Work::Finished(Box::new(answered));
        }
    }
}

/// Turns what a request was answered into what its protocol sends, with `send`
/// (given the response, the fields every answer carries, and whether the handler
/// failed): the handler's response, or 500 when it panicked, or when `send` cannot
/// send its response as it is. Returns the status sent and what `send` made; an
/// error only when not even the 500 can be sent. The response is lent to `send`,
/// not moved: it is large, and a request's path moves it as little as it can.
#[inline]
pub fn respond<T>(
    answered: Answered,
    peer: &Peer,
    fields: &AnswerFields<'_>,
    mut send: impl FnMut(&mut Response, &AnswerFields<'_>, bool) -> Result<T, Unsendable>,
) -> Result<(StatusCode, T), Unsendable> {
    // The id is spelled out only for an error's log line.
    let id = || fields.request_id.as_str();
    let (mut response, failed) = match answered {
        Ok(response) => (response, false),
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            error!("{peer}: handler panicked on request {}: {message}", id());
            (handler_failed(), true)
        }
    };
    let status = response.status();
    match send(&mut response, fields, failed) {
        Ok(sent) => Ok((status, sent)),
        Err(error) => {
            let id = id();
            error!(
                "{peer}: cannot send a {status} response to request {id}: {error}; answering 500"
            );
            let mut failure = handler_failed();
            let status = failure.status();
            Ok((status, send(&mut failure, fields, true)?))
        }
    }
}

/// The answer after a handler panicked, or gave a response that cannot be sent:
/// 500.
fn handler_failed() -> Response {
    error_response(
        StatusCode::InternalServerError,
        Some("the request handler failed"),
    )
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;
    use crate::exchange::RequestId;

    fn fields(id: &RequestId) -> AnswerFields<'_> {
        AnswerFields {
            request_id: id,
            every_answer: &[],
            hsts: None,
            alt_svc: None,
        }
    }

    #[test]
    fn a_panic_and_an_unsendable_response_are_answered_500() {
        let id = RequestId::generate();
        let panicked: Answered = Err(Box::new("boom"));
        let sent = respond(panicked, &Peer::Unix, &fields(&id), |_, _, failed| {
            Ok(failed)
        });
        assert_eq!(sent, Ok((StatusCode::InternalServerError, true)));
        // The first response cannot be sent; the 500 after it can.
        let mut tries = Vec::new();
        let sent = respond(
            Ok(Response::new(201)),
            &Peer::Unix,
            &fields(&id),
            |r, _, failed| {
                tries.push((r.status(), failed));
                match tries.len() {
                    1 => Err(Unsendable::StreamingBody),
                    _ => Ok(()),
                }
            },
        );
        assert_eq!(sent, Ok((StatusCode::InternalServerError, ())));
        assert_eq!(
            tries,
            [
                (StatusCode::Created, false),
                (StatusCode::InternalServerError, true)
            ]
        );
        let never = respond(
            Ok(Response::new(200)),
            &Peer::Unix,
            &fields(&id),
            |_, _, _| Err::<(), _>(Unsendable::StreamingBody),
        );
        assert_eq!(never, Err(Unsendable::StreamingBody));
    }

    #[test]
    fn work_answers_once_and_a_handler_runs_ahead() {
        let mut work = Work::Refused(HttpError::bad_request("no"));
        let answered = smol::block_on(poll_fn(|cx| work.poll_answer(cx)));
        assert_eq!(answered.unwrap().status(), StatusCode::BadRequest);
        let mut ahead = Work::Handler(Box::pin(async { Ok(Response::new(202)) }));
        smol::block_on(poll_fn(|cx| {
            ahead.poll_ahead(cx);
            Poll::Ready(())
        }));
        assert!(matches!(ahead, Work::Finished(_)));
        let answered = smol::block_on(poll_fn(|cx| ahead.poll_answer(cx)));
        assert_eq!(answered.unwrap().status(), StatusCode::Accepted);
        assert_eq!(panic_message(&String::from("text")), "text");
    }
}
