//! Responses into bytes, written here in one pass into the connection's output
//! buffer: the status line; `Content-Length`; the response's own fields;
//! `Connection`; the fields every answer carries (`exchange::fields`: the
//! application's, HSTS, `Date`, `X-Request-Id`); then the body, unless the request
//! was HEAD.

use http_types::{Response, StatusCode};

use crate::exchange::fields::{
    AnswerFields, FieldSink, has_no_content, is_set_by_server, is_writable,
};
use crate::exchange::sendable::{Unsendable, read_body};

/// What the connection layer adds to a response.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The request was HEAD: the head says what GET would, and no body follows.
    pub head_only: bool,
    /// The `Connection` field's value, if the response needs one.
    pub connection: Option<&'static str>,
    /// The fields every answer carries, whatever its protocol.
    pub fields: AnswerFields<'a>,
}

/// Appends the encoded response to `out`, so that it can leave in a single write;
/// returns how many bytes of body it holds. On an error, `out` is as it was.
pub fn encode(
    response: &mut Response,
    envelope: &Envelope<'_>,
    out: &mut Vec<u8>,
) -> Result<usize, Unsendable> {
    let start = out.len();
    let written = write_response(response, envelope, out);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// Room for a head without its own fields, so that the buffer grows once.
const HEAD_ROOM: usize = 256;

fn write_response(
    response: &mut Response,
    envelope: &Envelope<'_>,
    out: &mut Vec<u8>,
) -> Result<usize, Unsendable> {
    let status = response.status();
    let bodiless = has_no_content(status);
    // The response reads as its body. A body of unknown length is read first, to
    // know its length.
    let (length, unsized_body) = match response.len() {
        _ if bodiless => (0, None),
        Some(length) => (length, None),
        None => {
            let mut bytes = Vec::new();
            read_body(response, &mut bytes)?;
            (bytes.len(), Some(bytes))
        }
    };
    let sends_body = !(envelope.head_only || bodiless);
    out.reserve(HEAD_ROOM + if sends_body { length } else { 0 });
    // Each field is written after the line end of the one before.
    write_status_line(status, out);
    if !bodiless {
        out.extend_from_slice(b"\r\ncontent-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
    }
    write_own_fields(response, out)?;
    if let Some(connection) = envelope.connection {
        write_field(out, "connection", connection);
    }
    let Ok(()) = envelope.fields.write_each(&mut HeadFields(out));
    out.extend_from_slice(b"\r\n\r\n");
    match unsized_body {
        _ if !sends_body => return Ok(0),
        Some(bytes) => out.extend_from_slice(&bytes),
        None => read_body(response, out)?,
    }
    Ok(length)
}

fn write_status_line(status: StatusCode, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(u16::from(status)).as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().as_bytes());
}

/// The response's fields, less those the connection layer writes itself.
fn write_own_fields(response: &Response, out: &mut Vec<u8>) -> Result<(), Unsendable> {
    for (name, values) in response.iter() {
        if is_set_by_server(name.as_str()) {
            continue;
        }
        for value in values {
            if !is_writable(name.as_str(), value.as_str()) {
                return Err(Unsendable::Field(name.as_str().to_owned()));
            }
            write_field(out, name.as_str(), value.as_str());
        }
    }
    Ok(())
}

/// A head's field lines, as the fields every answer carries are written.
struct HeadFields<'o>(&'o mut Vec<u8>);

impl FieldSink for HeadFields<'_> {
    /// Writing into a buffer cannot fail: the fields were checked at start-up.
    type Error = std::convert::Infallible;

    #[inline(always)]
    fn field(&mut self, name: &str, value: &str) -> Result<(), Self::Error> {
        write_field(self.0, name, value);
        Ok(())
    }
}

/// Writes a field, after the line end of the one before.
#[inline(always)]
fn write_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::RequestId;
    use crate::handler::ResponseField;
    use crate::handler::json_response;
    use std::time::SystemTime;

    const NO_STORE: &[ResponseField] = &[("cache-control", "no-store")];

    fn encoded_with(
        mut response: Response,
        head_only: bool,
        connection: Option<&'static str>,
    ) -> String {
        let mut out = Vec::new();
        let id = RequestId::from_client(b"req-1").unwrap();
        let envelope = Envelope {
            head_only,
            connection,
            fields: AnswerFields {
                request_id: &id,
                every_answer: NO_STORE,
                hsts: None,
                alt_svc: None,
            },
        };
        encode(&mut response, &envelope, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn encoded(response: Response) -> String {
        encoded_with(response, false, None)
    }

    #[test]
    fn a_response_is_written_in_order_in_one_pass() {
        let text = encoded(json_response(StatusCode::NotFound, b"{}".to_vec()));
        let date = text
            .lines()
            .find_map(|line| line.strip_prefix("date: "))
            .expect("a date field");
        let expected = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\
             cache-control: no-store\r\ndate: {date}\r\nx-request-id: req-1\r\n\r\n{{}}"
        );
        assert_eq!(text, expected);
        let sent = httpdate::parse_http_date(date).expect("an HTTP date");
        let age = SystemTime::now()
            .duration_since(sent)
            .expect("not in the future");
        assert!(age.as_secs() <= 1, "{date} is {age:?} old");
    }

    #[test]
    fn head_responses_keep_the_length_but_not_the_body() {
        let response = json_response(StatusCode::Ok, b"{\"result\":1}".to_vec());
        let text = encoded_with(response, true, None);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-length: 12\r\n"), "{text}");
        assert!(text.ends_with("\r\nx-request-id: req-1\r\n\r\n"), "{text}");
    }

    #[test]
    fn no_content_has_no_length_and_no_body() {
        let mut response = Response::new(StatusCode::NoContent);
        response.set_body("ignored");
        let text = encoded(response);
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(!text.contains("content-length"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn the_connection_field_is_written_when_asked() {
        let close = encoded_with(Response::new(200), false, Some("close"));
        assert!(close.contains("\r\nconnection: close\r\n"), "{close}");
        let kept = encoded(Response::new(200));
        assert!(!kept.contains("connection:"), "{kept}");
    }

    #[test]
    fn fields_the_layer_writes_are_not_taken_from_the_response() {
        let mut response = Response::new(200);
        response.insert_header("connection", "upgrade");
        response.insert_header("x-request-id", "forged");
        response.insert_header("x-custom", "kept");
        let text = encoded(response);
        assert!(
            !text.contains("upgrade") && !text.contains("forged"),
            "{text}"
        );
        assert!(text.contains("\r\nx-custom: kept\r\n"), "{text}");
        assert_eq!(text.matches("content-length").count(), 1, "{text}");
    }

    #[test]
    fn a_value_that_would_split_the_head_is_refused_and_nothing_written() {
        let mut response = Response::new(200);
        response.insert_header("x-split", "a\r\nset-cookie: b");
        let id = RequestId::generate();
        let envelope = Envelope {
            head_only: false,
            connection: None,
            fields: AnswerFields {
                request_id: &id,
                every_answer: NO_STORE,
                hsts: None,
                alt_svc: None,
            },
        };
        let mut out = b"earlier".to_vec();
        let error = encode(&mut response, &envelope, &mut out).unwrap_err();
        assert_eq!(error, Unsendable::Field("x-split".into()));
        assert_eq!(out, b"earlier");
    }

    #[test]
    fn a_body_of_unknown_length_is_measured() {
        let mut response = Response::new(200);
        let reader = smol::io::Cursor::new(b"hello".to_vec());
        use http_types::Body;
        response.set_body(Body::from_reader(smol::io::BufReader::new(reader), None));
        let text = encoded(response);
        assert!(text.contains("content-length: 5\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nhello"), "{text}");
    }

    /// The envelope of a GET answer that leaves the connection open, with no fields
    /// of the application's.
    fn plain<'a>(id: &'a RequestId, hsts: Option<&'a str>) -> Envelope<'a> {
        Envelope {
            head_only: false,
            connection: None,
            fields: AnswerFields {
                request_id: id,
                every_answer: &[],
                hsts,
                alt_svc: None,
            },
        }
    }

    #[test]
    fn strict_transport_security_is_written_only_when_given() {
        let id = RequestId::generate();
        for hsts in [None, Some("max-age=60")] {
            let mut out = Vec::new();
            encode(&mut Response::new(200), &plain(&id, hsts), &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            let written = text.contains("\r\nstrict-transport-security: max-age=60\r\n");
            assert_eq!(written, hsts.is_some(), "{text}");
        }
    }

    #[test]
    fn pipelined_responses_each_get_their_own_id() {
        let mut out = Vec::new();
        for id in [&b"first"[..], b"second"] {
            let id = RequestId::from_client(id).unwrap();
            encode(&mut Response::new(200), &plain(&id, None), &mut out).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let first = text.find("x-request-id: first\r\n").expect("the first id");
        let second = text
            .find("x-request-id: second\r\n")
            .expect("the second id");
        let second_head = text.rfind("HTTP/1.1 200 OK").unwrap();
        assert!(first < second_head && second_head < second, "{text}");
    }
}
