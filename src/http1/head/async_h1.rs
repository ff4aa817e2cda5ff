//! The adapter around async-h1's request decoder, which turns a checked head into an
//! `http_types::Request`. It works around what the decoder cannot take:
//! - heads of 8 KiB or more: they are handed over in batches of whole header lines,
//!   each after a stand-in request line, and the batches' fields are merged;
//! - HTTP/1.0 and unknown methods: the decoder sees HTTP/1.1 and `GET`;
//! - `OPTIONS *`: the decoder sees `/`;
//! - HTTP/1.0 without `Host`: the decoder sees a stand-in Host;
//! - `Expect`: left out, since the decoder would answer it on a second executor;
//! - bytes 0x80-0xFF in a value (which only a field smol-toy does not read may
//!   carry): written as `\xHH`, since http-types holds ASCII values only and
//!   panics on others.

use std::borrow::Cow;

use http_types::Request;
use http_types::headers::HOST;
use smol::io::Cursor;

use super::fields::{Field, FieldKind};
use super::request_line::RequestLine;
use crate::exchange::opaque_value;
use crate::exchange::refusal::{HttpError, Refusal};
use crate::memory::finish_in_memory;

/// async-h1's decoder refuses a head of 8 KiB or more (`MAX_HEAD_LENGTH`), counted
/// after our rewriting.
const DECODER_HEAD_LIMIT: usize = 8 * 1024 - 1;

/// The request line and Host field that carry each batch after the first, kept short
/// so that one header line of up to `MAX_FIELD_LINE` bytes fits in a batch.
const BATCH_PREFIX: &[u8] = b"GET / HTTP/1.1\r\nHost: b\r\n";

/// The longest header line async-h1 can decode, whatever `--max-head-size` says:
/// the decoder limit less the batch prefix and two line ends.
pub const MAX_FIELD_LINE: usize = DECODER_HEAD_LIMIT - BATCH_PREFIX.len() - 4;

/// Decodes a head whose request line and fields have passed the checks.
pub fn decode(line: &RequestLine<'_>, fields: &[Field<'_>]) -> Result<Request, HttpError> {
    // Host goes first, so that the first batch can build the URL.
    // async-h1 insists on a Host; HTTP/1.0 clients need not send one.
    let host = fields
        .iter()
        .find(|field| field.is(FieldKind::Host))
        .map_or(&b"Host: localhost"[..], |host| host.line);
    let mut others = Vec::with_capacity(fields.len());
    others.extend(
        fields
            .iter()
            .filter(|field| !matches!(field.kind, FieldKind::Host | FieldKind::Expect))
            .map(ascii_line),
    );
    let mut request = decode_in_batches(line, host, &others)?;
    request.set_version(Some(line.version));
    Ok(request)
}

/// The field's line as http-types can hold it: as sent when it is ASCII, else with
/// its value's bytes 0x80-0xFF as `\xHH` (see [`opaque_value`]).
fn ascii_line<'a>(field: &Field<'a>) -> Cow<'a, [u8]> {
    if field.ascii {
        return Cow::Borrowed(field.line);
    }
    let value = opaque_value(field.value);
    let mut line = Vec::with_capacity(field.name.len() + 2 + value.len());
    line.extend_from_slice(field.name);
    line.extend_from_slice(b": ");
    line.extend_from_slice(value.as_bytes());
    Cow::Owned(line)
}

/// The request line as async-h1 accepts it: HTTP/1.1, a method it knows, and a
/// target it can turn into a URL.
fn write_request_line(line: &RequestLine<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(match line.known_method {
        Some(_) => line.method,
        None => b"GET",
    });
    out.push(b' ');
    out.extend_from_slice(if line.is_asterisk() {
        b"/"
    } else {
        line.target
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Hands the head to async-h1's decoder, in batches small enough for it: the
/// request line and Host lead the first batch; later batches carry the remaining
/// header lines behind a stand-in request line, and their fields are merged.
fn decode_in_batches(
    line: &RequestLine<'_>,
    host: &[u8],
    fields: &[Cow<'_, [u8]>],
) -> Result<Request, HttpError> {
    // Room for the whole head, so that the first batch never grows.
    let head_size = line.method.len()
        + line.target.len()
        + host.len()
        + fields.iter().map(|field| field.len() + 2).sum::<usize>()
        + 16;
    let mut batch = Vec::with_capacity(head_size.min(DECODER_HEAD_LIMIT + 1));
    write_request_line(line, &mut batch);
    push_line(&mut batch, host);
    if batch.len() + 2 > DECODER_HEAD_LIMIT {
        return Err(HttpError::new(
            Refusal::RequestLineTooLong,
            "the request line is longer than 8 KiB",
        ));
    }
    let mut rest = fields;
    fill_batch(&mut batch, &mut rest);
    let mut request = decode_batch(batch)?;
    while !rest.is_empty() {
        let mut batch = BATCH_PREFIX.to_vec();
        if fill_batch(&mut batch, &mut rest) == 0 {
            return Err(HttpError::new(
                Refusal::HeadTooLarge,
                format!("a header line is longer than {MAX_FIELD_LINE} bytes"),
            ));
        }
        merge_fields(&mut request, &decode_batch(batch)?);
    }
    Ok(request)
}

/// Moves whole lines from the front of `rest` into `batch`, in order, as many as fit
/// under the decoder's limit, then ends the head; returns how many it moved.
fn fill_batch(batch: &mut Vec<u8>, rest: &mut &[Cow<'_, [u8]>]) -> usize {
    let taken = rest
        .iter()
        .scan(batch.len(), |size, field| {
            *size += field.len() + 2;
            (*size + 2 <= DECODER_HEAD_LIMIT).then_some(())
        })
        .count();
    for field in &rest[..taken] {
        push_line(batch, field);
    }
    *rest = &rest[taken..];
    batch.extend_from_slice(b"\r\n");
    taken
}

/// Decodes one batch with async-h1; it reads from memory, so one poll finishes it.
fn decode_batch(bytes: Vec<u8>) -> Result<Request, HttpError> {
    match finish_in_memory(async_h1::server::decode(Cursor::new(bytes))) {
        Some(Ok(Some((request, _body)))) => Ok(request),
        Some(Ok(None)) => Err(HttpError::bad_request("empty request head")),
        Some(Err(error)) => Err(HttpError::bad_request(error.to_string())),
        None => Err(HttpError::new(
            Refusal::Internal,
            "the decoder waited for input it already had",
        )),
    }
}

/// Copies the header fields of a later batch, less its stand-in Host.
fn merge_fields(request: &mut Request, batch: &Request) {
    for (name, values) in batch.iter() {
        if *name != HOST {
            for value in values {
                request.append_header(name.clone(), value.clone());
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_types::Version;

    fn decode_head(head: &[u8]) -> Result<Request, HttpError> {
        let mut lines = head.split(|&b| b == b'\n').map(super::super::scan::trim_cr);
        let line = RequestLine::parse(lines.next().unwrap())?;
        let fields = lines
            .take_while(|line| !line.is_empty())
            .map(Field::parse)
            .collect::<Result<Vec<_>, _>>()?;
        decode(&line, &fields)
    }

    #[test]
    fn long_heads_decode_in_batches() {
        let mut head = b"GET /toy HTTP/1.1\r\n".to_vec();
        for i in 0..20 {
            head.extend_from_slice(format!("X-Field-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
        }
        head.extend_from_slice(b"Host: example.com\r\n\r\n");
        let request = decode_head(&head).expect("decodes");
        assert_eq!(request.url().as_str(), "http://example.com/toy");
        assert_eq!(request.header(HOST).unwrap().as_str(), "example.com");
        assert_eq!(request.header("x-field-19").unwrap().as_str().len(), 1000);
        assert_eq!(request.iter().count(), 21);
    }

    #[test]
    fn what_the_decoder_cannot_take_is_stood_in_for() {
        let request =
            decode_head(b"BREW /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect("decodes");
        assert_eq!(request.method(), http_types::Method::Get);
        assert_eq!(request.url().as_str(), "http://localhost/x");
        assert_eq!(request.version(), Some(Version::Http1_0));
        assert!(request.header("expect").is_none());
        let request = decode_head(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").expect("decodes");
        assert_eq!(request.method(), http_types::Method::Options);
        assert_eq!(request.url().path(), "/");
    }

    #[test]
    fn bytes_outside_ascii_reach_the_request_escaped() {
        let request =
            decode_head(b"GET / HTTP/1.1\r\nHost: t\r\nX: caf\xc3\xa9 \\o/\r\nY: \xe9\r\n\r\n")
                .expect("decodes");
        assert_eq!(request.header("x").unwrap().as_str(), r"caf\xc3\xa9 \\o/");
        assert_eq!(request.header("y").unwrap().as_str(), r"\xe9");
    }
}
