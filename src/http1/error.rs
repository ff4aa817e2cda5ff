//! The requests HTTP/1 refuses to read, and, in one table, what each kind is
//! answered with and why its connection closes.

use std::borrow::Cow;

use http_types::{Response, StatusCode};

use crate::connection::CloseReason;
use crate::exchange::errors::error_response;

/// Why a request cannot be served: its kind and a sentence for the client. The
/// connection closes after the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// What went wrong, which decides the status and the close reason.
    pub refusal: Refusal,
    /// What was wrong, for the `detail` member of the JSON body.
    pub detail: Cow<'static, str>,
}

/// The kinds of request the connection layer refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The head breaks the syntax or the rules of HTTP/1.x.
    Malformed,
    /// The request line is longer than the server accepts.
    RequestLineTooLong,
    /// The head is larger, or has more fields, than the server accepts.
    HeadTooLarge,
    /// The head took longer than the header timeout to arrive.
    HeadTimeout,
    /// A transfer coding other than `chunked`.
    UnknownTransferCoding,
    /// An expectation other than `100-continue`.
    UnknownExpectation,
    /// An HTTP major version other than 1.
    VersionNotSupported,
    /// The server could not decode a head it had checked.
    Internal,
}

impl Refusal {
    /// The status the client gets, and why the connection is counted as closed: the
    /// one place that maps a refusal to both.
    pub fn outcome(self) -> (StatusCode, CloseReason) {
        match self {
            Refusal::Malformed => (StatusCode::BadRequest, CloseReason::Error),
            Refusal::RequestLineTooLong => (StatusCode::UriTooLong, CloseReason::Error),
            Refusal::HeadTooLarge => (StatusCode::RequestHeaderFieldsTooLarge, CloseReason::Error),
            Refusal::HeadTimeout => (StatusCode::RequestTimeout, CloseReason::HeaderTimeout),
            Refusal::UnknownTransferCoding => (StatusCode::NotImplemented, CloseReason::Error),
            Refusal::UnknownExpectation => (StatusCode::ExpectationFailed, CloseReason::Error),
            Refusal::VersionNotSupported => {
                (StatusCode::HttpVersionNotSupported, CloseReason::Error)
            }
            Refusal::Internal => (StatusCode::InternalServerError, CloseReason::Error),
        }
    }
}

impl HttpError {
    /// A refusal with an explanation.
    pub fn new(refusal: Refusal, detail: impl Into<Cow<'static, str>>) -> Self {
        HttpError {
            refusal,
            detail: detail.into(),
        }
    }

    /// A malformed request: 400 Bad Request.
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        HttpError::new(Refusal::Malformed, detail)
    }

    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        self.refusal.outcome().0
    }

    /// The answer: the status, and a JSON body naming it, with the detail.
    pub fn response(&self) -> Response {
        error_response(self.status(), Some(&self.detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_slow_head_closes_for_the_header_timeout() {
        let refusals = [
            Refusal::Malformed,
            Refusal::RequestLineTooLong,
            Refusal::HeadTooLarge,
            Refusal::HeadTimeout,
            Refusal::UnknownTransferCoding,
            Refusal::UnknownExpectation,
            Refusal::VersionNotSupported,
            Refusal::Internal,
        ];
        for refusal in refusals {
            let (status, reason) = refusal.outcome();
            assert!(status.is_client_error() || status.is_server_error());
            assert_eq!(
                reason == CloseReason::HeaderTimeout,
                refusal == Refusal::HeadTimeout
            );
        }
    }
}
