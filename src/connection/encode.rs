//! Responses into bytes: the `Connection` and `Date` headers, then async-h1's
//! `Encoder`, into the connection's output buffer.

use std::cell::RefCell;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use http_types::headers::{CONNECTION, DATE, HeaderValue};
use http_types::{Method, Response};
use smol::io::AsyncReadExt;

use super::finish_in_memory;

/// Whether the connection stays open after a response, and how it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: no Connection header.
    KeepAlive,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    KeepAliveHttp10,
    /// `Connection: close`, then the close.
    Close,
}

/// Appends the encoded response (head and, unless the request was HEAD, body) to
/// `out`, so that it can leave in a single write.
pub fn encode(
    mut response: Response,
    request_method: Method,
    persistence: Persistence,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAliveHttp10 => {
            response.insert_header(CONNECTION, "keep-alive");
        }
        Persistence::Close => {
            response.insert_header(CONNECTION, "close");
        }
    }
    response.insert_header(DATE, current_date());
    // The body is in memory, so one poll finishes the encoder.
    let mut encoder = async_h1::server::Encoder::new(response, request_method);
    match finish_in_memory(encoder.read_to_end(out)) {
        Some(result) => result.map(drop),
        None => Err(io::Error::other(
            "the encoder waited on a body held in memory",
        )),
    }
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
        encode(response, method, persistence, &mut out).unwrap();
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
    fn head_responses_keep_the_length_but_not_the_body() {
        let response = json_response(StatusCode::Ok, b"{\"result\":1}".to_vec());
        let text = encoded(response, Method::Head, Persistence::KeepAlive);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-length: 12\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn persistence_sets_the_connection_header() {
        let close = encoded(Response::new(200), Method::Get, Persistence::Close);
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
