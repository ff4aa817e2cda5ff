//! Every answer the connection layer makes itself, in one format: a status and a
//! JSON body `{"error":"not found"}`, with a `detail` member when there is more to say.

use std::borrow::Cow;

use http_types::{Response, StatusCode};

use crate::handler::json_response;

/// Why a request cannot be served: its status and a sentence for the client. The
/// connection closes after the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status the client receives.
    pub status: StatusCode,
    /// What was wrong, for the `detail` member of the JSON body.
    pub detail: Cow<'static, str>,
}

impl HttpError {
    /// An error with a fixed explanation.
    pub fn new(status: StatusCode, detail: &'static str) -> Self {
        HttpError {
            status,
            detail: Cow::Borrowed(detail),
        }
    }

    /// A 400 Bad Request.
    pub(super) fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        HttpError {
            status: StatusCode::BadRequest,
            detail: detail.into(),
        }
    }

    /// The answer: the status, and a JSON body naming it, with the detail.
    pub(super) fn response(&self) -> Response {
        error_response(self.status, Some(&self.detail))
    }
}

/// A response with `status` and the JSON body that names it.
pub(super) fn error_response(status: StatusCode, detail: Option<&str>) -> Response {
    json_response(status, error_body(status, detail))
}

fn error_body(status: StatusCode, detail: Option<&str>) -> Vec<u8> {
    let error = status.canonical_reason().to_ascii_lowercase();
    let value = match detail {
        Some(detail) => serde_json::json!({ "error": error, "detail": detail }),
        None => serde_json::json!({ "error": error }),
    };
    serde_json::to_vec(&value).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_name_the_status() {
        assert_eq!(
            error_body(StatusCode::NotFound, None),
            br#"{"error":"not found"}"#
        );
        assert_eq!(
            error_body(StatusCode::BadRequest, Some("Host header is missing")),
            br#"{"detail":"Host header is missing","error":"bad request"}"#
        );
    }
}
