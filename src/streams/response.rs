//! A response into what a stream protocol's library sends: a head (`:status` and
//! fields, an `http::Response`) and a body held in memory. The fields are the
//! response's own, less those the server sets itself and those HTTP/2 and HTTP/3
//! forbid or frame themselves (RFC 9113 §8.2.2, RFC 9114 §4.2): `Connection`,
//! `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding` and `Upgrade`; then the
//! fields every answer carries (`exchange::fields`).

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_types::Response;

use crate::exchange::fields::{
    AnswerFields, FieldSink, REQUEST_ID, has_no_content, is_set_by_server, is_writable,
};
use crate::exchange::sendable::{Unsendable, read_body};

/// The head and body sent for `response`; no body after HEAD.
pub fn convert(
    response: &mut Response,
    head_only: bool,
    fields: &AnswerFields<'_>,
) -> Result<(http::Response<()>, Bytes), Unsendable> {
    let status = response.status();
    let bodiless = has_no_content(status);
    let mut body = Vec::new();
    if !bodiless {
        read_body(response, &mut body)?;
    }
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(status.into())
        .map_err(|_| Unsendable::Field(":status".into()))?;
    let headers = head.headers_mut();
    if !bodiless {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    for (name, values) in response.iter() {
        if is_set_by_server(name.as_str()) || is_connection_specific(name.as_str()) {
            continue;
        }
        for value in values {
            append(headers, name.as_str(), value.as_str())?;
        }
    }
    fields.write_each(&mut HeadFields(headers))?;
    let body = if head_only || bodiless {
        Bytes::new()
    } else {
        Bytes::from(body)
    };
    Ok((head, body))
}

/// The connection-specific fields HTTP/2 and HTTP/3 forbid, besides `Connection`
/// and `Transfer-Encoding`, which the server never takes from a response.
fn is_connection_specific(name: &str) -> bool {
    matches!(name, "keep-alive" | "proxy-connection" | "upgrade")
}

/// A head's fields, as the fields every answer carries are written.
struct HeadFields<'h>(&'h mut http::HeaderMap);

impl FieldSink for HeadFields<'_> {
    type Error = Unsendable;

    #[inline(always)]
    fn field(&mut self, name: &str, value: &str) -> Result<(), Unsendable> {
        append(self.0, name, value)
    }
}

/// Appends a field. `X-Request-Id` is marked for HPACK and QPACK as never indexed:
/// a value each answer has alone would only push useful entries out of the
/// client's table, and h2's encoder would compare every answer's id with each one
/// still in its own.
fn append(headers: &mut http::HeaderMap, name: &str, value: &str) -> Result<(), Unsendable> {
    let refused = || Unsendable::Field(name.to_owned());
    if !is_writable(name, value) {
        return Err(refused());
    }
    // Field names are lowercase (RFC 9113 §8.2.1, RFC 9114 §4.2): `from_bytes`
    // lowercases them itself, without a copy of the name.
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| refused())?;
    let mut value = HeaderValue::from_str(value).map_err(|_| refused())?;
    value.set_sensitive(name == REQUEST_ID);
    headers.append(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::RequestId;
    use crate::handler::json_response;
    use http_types::StatusCode;

    fn fields(id: &RequestId) -> AnswerFields<'_> {
        AnswerFields {
            request_id: id,
            every_answer: &[("cache-control", "no-store")],
            hsts: Some("max-age=60"),
            alt_svc: None,
        }
    }

    #[test]
    fn fields_of_every_answer_and_no_connection_fields() {
        let id = RequestId::from_client(b"req-1").unwrap();
        let mut response = json_response(StatusCode::Ok, b"{\"result\":1}".to_vec());
        response.insert_header("connection", "close");
        response.insert_header("X-Custom", "yes");
        let (head, body) = convert(&mut response, false, &fields(&id)).unwrap();
        assert_eq!(head.status(), 200);
        let headers = head.headers();
        assert_eq!(headers["content-length"], "12");
        assert_eq!(headers["x-request-id"], "req-1");
        assert!(headers["x-request-id"].is_sensitive(), "never indexed");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["strict-transport-security"], "max-age=60");
        assert_eq!(headers["x-custom"], "yes");
        assert!(headers.contains_key("date"));
        assert!(!headers.contains_key("connection"));
        assert_eq!(&body[..], b"{\"result\":1}");
    }

    #[test]
    fn head_and_no_content_carry_no_body() {
        let id = RequestId::generate();
        let mut response = json_response(StatusCode::Ok, b"{}".to_vec());
        let (head, body) = convert(&mut response, true, &fields(&id)).unwrap();
        assert_eq!(head.headers()["content-length"], "2");
        assert!(body.is_empty());
        let (head, body) = convert(
            &mut Response::new(StatusCode::NoContent),
            false,
            &fields(&id),
        )
        .unwrap();
        assert!(!head.headers().contains_key("content-length"));
        assert!(body.is_empty());
    }
}
