//! One answer: the response, or the 500 that replaces a response that failed,
//! encoded into the output buffer with the `Connection` field the state decides,
//! recorded in the metrics and the access log, then written as the write policy
//! says.

use std::time::Instant;

use http_types::Response;
use log::error;
use smol::io::{AsyncRead, AsyncWrite};

use super::encode::{EncodeError, Envelope, encode};
use super::state::Answering;
use super::{Connection, pipeline};
use crate::exchange::dispatch::{self, Answered};
use crate::exchange::fields::AnswerFields;
use crate::handler::Handler;

impl<'a, S: AsyncRead + AsyncWrite + Unpin, H: Handler> Connection<'a, S, H> {
    /// Encodes the answer to the oldest request (`last`: no other request waits)
    /// behind those not yet written, and records it. Not `async`: the response is
    /// large, and is gone before the connection waits again.
    pub(super) fn encode_answer(
        &mut self,
        request: pipeline::Request<'a>,
        answered: Answered,
        last: bool,
    ) {
        let id = request.exchange.request_id();
        let (response, failed) = match answered {
            Ok(response) => (response, false),
            Err(panic) => {
                let message = dispatch::panic_message(panic.as_ref());
                error!(
                    "{}: handler panicked on request {}: {message}",
                    self.io.peer(),
                    id.as_str()
                );
                (dispatch::handler_failed(), true)
            }
        };
        let mut status = response.status();
        let mut written = self.encode(&request, response, last, failed);
        if let Err(error) = &written {
            error!(
                "{}: cannot write a {status} response to request {}: {error}; answering 500",
                self.io.peer(),
                id.as_str()
            );
            let failure = dispatch::handler_failed();
            status = failure.status();
            written = self.encode(&request, failure, last, true);
        }
        match written {
            Ok(bytes) => request.exchange.answered(self.io.peer(), status, bytes),
            Err(_) => self.state.encoding_failed(),
        }
    }

    /// Encodes `response` into the output buffer; returns its size.
    fn encode(
        &mut self,
        request: &pipeline::Request<'a>,
        response: Response,
        last: bool,
        failed: bool,
    ) -> Result<usize, EncodeError> {
        let shutting_down = self.shared.shutdown_requested.is_triggered();
        let answering = Answering {
            last,
            handler_failed: failed,
            http10: request.http10,
        };
        let connection = self.state.answering(answering, shutting_down);
        let envelope = Envelope {
            head_only: request.head_only,
            connection,
            fields: AnswerFields {
                request_id: request.exchange.request_id(),
                every_answer: H::RESPONSE_FIELDS,
                hsts: self.security.tls_version().and(self.shared.hsts.as_deref()),
            },
        };
        let before = self.io.output().len();
        encode(response, &envelope, self.io.output())?;
        Ok(self.io.output().len() - before)
    }

    /// Applies the write policy (`io`) to the answer just encoded, then, after the
    /// `last` one, skips the request's body if the connection stays open.
    pub(super) async fn after_answer(&mut self, last: bool) {
        let written = self.io.queued(self.state.ending().is_some()).await;
        self.state.written(&written);
        if let Some(length) = self.state.body_to_skip(last) {
            // The body must arrive within the header timeout.
            let deadline = Instant::now() + self.shared.limits.header_timeout;
            let skipped = self.io.skip(length, deadline).await;
            self.state.body_skipped(skipped);
        }
    }
}
