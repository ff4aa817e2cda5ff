//! What the connection layer must guarantee for any input, checked on the output of
//! an in-memory connection. Shared by `properties.rs` and the fuzz target.

use std::time::Duration;

use smol_toy::Limits;
use smol_toy::Toy;
use smol_toy::testing::{MemoryStream, default_limits, serve_in_memory};

/// One response as it appeared on the wire.
#[derive(Debug)]
pub struct Parsed {
    pub status: u16,
    pub says_close: bool,
}

/// Splits the server's output into responses. Fails on anything that is not a
/// sequence of whole responses: a status line, headers, and exactly Content-Length
/// bytes of body (none after a HEAD, recognised by the next status line or the end
/// following at once; every body the server sends is JSON and starts with `{`).
pub fn parse_responses(mut output: &[u8]) -> Result<Vec<Parsed>, String> {
    let mut responses = Vec::new();
    while !output.is_empty() {
        let text = String::from_utf8_lossy(output);
        let head_end = find(output, b"\r\n\r\n").ok_or(format!("a head never ends: {text:?}"))?;
        let head = std::str::from_utf8(&output[..head_end]).map_err(|e| format!("head: {e}"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or(format!("not a status line: {status_line:?}"))?;
        let mut length = None;
        let mut says_close = false;
        for line in lines {
            let (name, value) = line.split_once(": ").ok_or(format!("bad field {line:?}"))?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "connection" => says_close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        output = &output[head_end + 4..];
        // A 204 has no Content-Length and no body; every other answer has both,
        // but a HEAD answer's body is not sent.
        if status == 204 {
            if length.is_some() {
                return Err(format!("a 204 with a Content-Length: {head:?}"));
            }
            responses.push(Parsed { status, says_close });
            continue;
        }
        let length = length.ok_or(format!("no Content-Length: {head:?}"))?;
        let bodiless = output.is_empty() || output.starts_with(b"HTTP/1.1 ");
        if !bodiless {
            if output.len() < length || output[0] != b'{' {
                return Err(format!("short or odd body after {head:?}: {text:?}"));
            }
            output = &output[length..];
        }
        responses.push(Parsed { status, says_close });
    }
    Ok(responses)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The most heads `input` can hold: one per blank line that could end one, plus an
/// unfinished one at the end.
pub fn most_heads(input: &[u8]) -> usize {
    let ends = input.windows(2).filter(|w| w == b"\n\n").count()
        + input.windows(3).filter(|w| w == b"\n\r\n").count();
    ends + 1
}

/// Statuses that mean the request itself could not be read; the connection must close.
const PARSE_ERRORS: &[u16] = &[400, 408, 414, 417, 431, 505];

pub fn limits() -> Limits {
    Limits {
        // Small enough that random input reaches the size limit too.
        max_head_size: 1024,
        ..default_limits()
    }
}

pub fn serve(input: Vec<u8>, pieces: Vec<usize>) -> MemoryStream {
    serve_in_memory(
        Toy::new(Duration::ZERO),
        limits(),
        MemoryStream::new(input, pieces),
    )
}

/// Checks what must hold for any input: the output is whole responses and nothing
/// else, at most one per request, nothing follows `Connection: close`, a request
/// that cannot be read is answered and then closed, input other than blank lines
/// gets an answer, and the server never closes without saying so.
pub fn check(input: &[u8], stream: &MemoryStream) -> Result<Vec<Parsed>, String> {
    let responses = parse_responses(stream.output())?;
    let most = most_heads(input);
    if responses.len() > most {
        return Err(format!(
            "{} responses to at most {most} requests",
            responses.len()
        ));
    }
    for (index, response) in responses.iter().enumerate() {
        let last = index + 1 == responses.len();
        if response.says_close && !last {
            return Err("a response after `Connection: close`".into());
        }
        if PARSE_ERRORS.contains(&response.status) && !(response.says_close && last) {
            return Err(format!("{} left the connection open", response.status));
        }
    }
    if responses.is_empty() && input.iter().any(|&b| b != b'\r' && b != b'\n') {
        return Err(format!(
            "no answer at all to {:?}",
            String::from_utf8_lossy(input)
        ));
    }
    if stream.write_closed() && !responses.last().is_some_and(|r| r.says_close) {
        return Err("closed without saying so".into());
    }
    Ok(responses)
}
