//! Every answer the server makes itself, for any protocol, in one format: a status
//! and a JSON body `{"error":"not found"}`, with a `detail` member when there is
//! more to say.

use http_types::{Response, StatusCode};

use crate::handler::json_response;

/// A response with `status` and the JSON body that names it.
pub fn error_response(status: StatusCode, detail: Option<&str>) -> Response {
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
