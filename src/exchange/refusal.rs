//! The requests the server refuses to read, whatever their protocol, and in one
//! table the status each kind is answered with. How a refusal closes is the
//! protocol's: HTTP/1 closes the connection after the answer, a stream protocol
//! ends the stream.

use std::borrow::Cow;

use http_types::{Response, StatusCode};

use super::errors::error_response;
use super::field_rules::{ExpectRefusal, ValueRefusal};

/// Why a request cannot be served: its kind and a sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// What went wrong, which decides the status.
    pub refusal: Refusal,
    /// What was wrong, for the `detail` member of the JSON body.
    pub detail: Cow<'static, str>,
}

/// The kinds of request the server refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request breaks the syntax or the rules of its protocol, or the field
    /// rules every protocol applies.
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
    /// Every kind.
    #[cfg(test)]
    pub const ALL: [Refusal; 8] = [
        Refusal::Malformed,
        Refusal::RequestLineTooLong,
        Refusal::HeadTooLarge,
        Refusal::HeadTimeout,
        Refusal::UnknownTransferCoding,
        Refusal::UnknownExpectation,
        Refusal::VersionNotSupported,
        Refusal::Internal,
    ];

    /// The status the client gets: the one place that maps a refusal to it.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Malformed => StatusCode::BadRequest,
            Refusal::RequestLineTooLong => StatusCode::UriTooLong,
            Refusal::HeadTooLarge => StatusCode::RequestHeaderFieldsTooLarge,
            Refusal::HeadTimeout => StatusCode::RequestTimeout,
            Refusal::UnknownTransferCoding => StatusCode::NotImplemented,
            Refusal::UnknownExpectation => StatusCode::ExpectationFailed,
            Refusal::VersionNotSupported => StatusCode::HttpVersionNotSupported,
            Refusal::Internal => StatusCode::InternalServerError,
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
        self.refusal.status()
    }

    /// The answer: the status, and a JSON body naming it, with the detail.
    pub fn response(&self) -> Response {
        error_response(self.status(), Some(&self.detail))
    }
}

impl From<ValueRefusal> for HttpError {
    /// A field value the field rules refuse: 400.
    fn from(refused: ValueRefusal) -> Self {
        HttpError::bad_request(refused.to_string())
    }
}

impl From<ExpectRefusal> for HttpError {
    /// An `Expect` the server cannot meet: 400 for more than one, 417 for another
    /// expectation than `100-continue`.
    fn from(refused: ExpectRefusal) -> Self {
        match refused {
            ExpectRefusal::Repeated => HttpError::bad_request("more than one Expect header"),
            ExpectRefusal::Unknown => HttpError::new(
                Refusal::UnknownExpectation,
                "the only expectation supported is 100-continue",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_an_error_status() {
        for refusal in Refusal::ALL {
            let status = refusal.status();
            assert!(status.is_client_error() || status.is_server_error());
        }
        let expect: HttpError = ExpectRefusal::Unknown.into();
        assert_eq!(expect.status(), StatusCode::ExpectationFailed);
        let repeated: HttpError = ExpectRefusal::Repeated.into();
        assert_eq!(repeated.status(), StatusCode::BadRequest);
    }
}
