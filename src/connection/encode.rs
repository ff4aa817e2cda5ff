//! Responses into bytes: the `Connection` and `Date` headers, async-h1's `Encoder`,
//! then `Cache-Control` and `X-Request-Id`, into the connection's output buffer.

use std::cell::RefCell;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use http_types::headers::{CONNECTION, DATE, HeaderValue};
use http_types::{Method, Response};
use smol::io::AsyncReadExt;

use super::finish_in_memory;
use super::request_id::RequestId;
use crate::metrics::CloseReason;

/// Whether the connection stays open after a response, and how it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: no Connection header.
    KeepAlive,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    KeepAliveHttp10,
    /// `Connection: close`, then the close, for this reason.
    Close(CloseReason),
}

/// Appends the encoded response (head and, unless the request was HEAD, body) to
/// `out`, so that it can leave in a single write.
pub fn encode(
    mut response: Response,
    request_method: Method,
    persistence: Persistence,
    request_id: &RequestId,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    // The body the encoder writes after the head: none after HEAD.
    let body_len = match request_method {
        Method::Head => Some(0),
        _ => response.len(),
    };
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAliveHttp10 => {
            response.insert_header(CONNECTION, "keep-alive");
        }
        Persistence::Close(_) => {
            response.insert_header(CONNECTION, "close");
        }
    }
    response.insert_header(DATE, current_date());
    // The body is in memory, so one poll finishes the encoder.
    let mut encoder = async_h1::server::Encoder::new(response, request_method);
    match finish_in_memory(encoder.read_to_end(out)) {
        Some(result) => result?,
        None => {
            return Err(io::Error::other(
                "the encoder waited on a body held in memory",
            ));
        }
    };
    insert_fields(out, body_len, request_id)
}

/// Adds `Cache-Control: no-store` and `X-Request-Id` as the last fields of the head
/// just encoded, which `body_len` bytes of body follow.
///
/// No answer of this server may be stored by a cache: health and readiness change, and
/// `/toy` stands for a computation. Both fields are written here rather than through
/// the response's header map, which cost 3,200 instructions per field and response
/// (`bench/instructions.sh`): a name allocated and hashed, a value allocated, and the
/// encoder's formatting. The id is visible ASCII, so it needs no escaping.
fn insert_fields(out: &mut Vec<u8>, body_len: Option<usize>, id: &RequestId) -> io::Result<()> {
    // Every body here is in memory with a known length, so the head ends
    // `body_len` bytes before the end.
    let head_end = body_len
        .and_then(|len| out.len().checked_sub(len))
        .filter(|&end| end >= 4 && out[end - 4..end] == *b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("cannot find the end of the encoded head"))?;
    // Append the field, then rotate it into place before the empty line.
    let at = head_end - 2;
    let field_len = out.len();
    out.extend_from_slice(b"cache-control: no-store\r\nx-request-id: ");
    out.extend_from_slice(id.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
    let field_len = out.len() - field_len;
    out[at..].rotate_right(field_len);
    Ok(())
}

/// The `Date` header for the current second. async-h1's encoder formats one for every
/// response that has none, which costs more than the rest of the head; each thread
/// formats it once a second instead.
fn current_date() -> HeaderValue {
    thread_local! {
        static CACHED: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED.with_borrow_mut(|cached| match cached {
        Some((at, date)) if *at == second => date.clone(),
        _ => {
            let date: HeaderValue = httpdate::fmt_http_date(now)
                .parse()
                .expect("an HTTP date is ASCII");
            *cached = Some((second, date.clone()));
            date
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::json_response;
    use http_types::StatusCode;

    fn encoded(response: Response, method: Method, persistence: Persistence) -> String {
        let mut out = Vec::new();
        let id = RequestId::from_client(b"req-1").unwrap();
        encode(response, method, persistence, &id, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_response_carries_the_current_date() {
        let text = encoded(Response::new(200), Method::Get, Persistence::KeepAlive);
        let date = text
            .lines()
            .find_map(|line| line.strip_prefix("date: "))
            .expect("a date header");
        let sent = httpdate::parse_http_date(date).expect("an HTTP date");
        let age = SystemTime::now()
            .duration_since(sent)
            .expect("not in the future");
        assert!(age.as_secs() <= 1, "{date} is {age:?} old");
    }

    #[test]
    fn every_response_carries_its_request_id_in_its_head() {
        let body = json_response(StatusCode::NotFound, b"{}".to_vec());
        let text = encoded(
            body,
            Method::Get,
            Persistence::Close(CloseReason::ClientClosed),
        );
        assert!(text.contains("\r\nx-request-id: req-1\r\n\r\n{}"), "{text}");
        assert!(text.contains("\r\ncache-control: no-store\r\n"), "{text}");
        let text = encoded(Response::new(200), Method::Head, Persistence::KeepAlive);
        assert!(text.ends_with("\r\nx-request-id: req-1\r\n\r\n"), "{text}");
    }

    #[test]
    fn pipelined_responses_each_get_their_own_id() {
        let mut out = Vec::new();
        for id in [&b"first"[..], b"second"] {
            let id = RequestId::from_client(id).unwrap();
            encode(
                Response::new(200),
                Method::Get,
                Persistence::KeepAlive,
                &id,
                &mut out,
            )
            .unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let first = text.find("x-request-id: first\r\n").expect("the first id");
        let second = text
            .find("x-request-id: second\r\n")
            .expect("the second id");
        let second_head = text.rfind("HTTP/1.1 200 OK").unwrap();
        assert!(first < second_head && second_head < second, "{text}");
    }

    #[test]
    fn head_responses_keep_the_length_but_not_the_body() {
        let response = json_response(StatusCode::Ok, b"{\"result\":1}".to_vec());
        let text = encoded(response, Method::Head, Persistence::KeepAlive);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-length: 12\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn persistence_sets_the_connection_header() {
        let close = encoded(
            Response::new(200),
            Method::Get,
            Persistence::Close(CloseReason::ClientClosed),
        );
        assert!(close.contains("connection: close\r\n"), "{close}");
        let http10 = encoded(
            Response::new(200),
            Method::Get,
            Persistence::KeepAliveHttp10,
        );
        assert!(http10.contains("connection: keep-alive\r\n"), "{http10}");
        let http11 = encoded(Response::new(200), Method::Get, Persistence::KeepAlive);
        assert!(!http11.contains("connection:"), "{http11}");
    }
}
