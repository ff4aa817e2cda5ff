//! Finding where a request head ends in a read buffer that fills over several reads,
//! enforcing the size and field-count limits as the bytes arrive.

use crate::exchange::refusal::{HttpError, Refusal};

/// Most header fields a request may carry.
pub const MAX_HEADER_FIELDS: usize = 100;

/// Finds the end of a request head.
///
/// Lines may end in CRLF or a bare LF (RFC 9112 §2.2), and empty lines before the
/// request line are skipped.
#[derive(Debug)]
pub struct HeadScanner {
    max_size: usize,
    scanned: usize,
    line_start: usize,
    request_line_seen: bool,
    fields: usize,
}

impl HeadScanner {
    /// A scanner for heads of at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        HeadScanner {
            max_size,
            scanned: 0,
            line_start: 0,
            request_line_seen: false,
            fields: 0,
        }
    }

    /// Scans what was added to `buffer` since the last call. Returns the length of
    /// the head, its final empty line included, once the head is complete.
    pub fn scan(&mut self, buffer: &[u8]) -> Result<Option<usize>, HttpError> {
        while let Some(offset) = buffer[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + offset + 1;
            let line = trim_cr(&buffer[self.line_start..end - 1]);
            self.scanned = end;
            self.line_start = end;
            if end > self.max_size {
                return Err(self.too_large());
            }
            if line.is_empty() {
                if self.request_line_seen {
                    return Ok(Some(end));
                }
            } else if !self.request_line_seen {
                self.request_line_seen = true;
            } else {
                self.fields += 1;
                if self.fields > MAX_HEADER_FIELDS {
                    return Err(HttpError::new(
                        Refusal::HeadTooLarge,
                        format!("more than {MAX_HEADER_FIELDS} header fields"),
                    ));
                }
            }
        }
        self.scanned = buffer.len();
        if buffer.len() >= self.max_size {
            return Err(self.too_large());
        }
        Ok(None)
    }

    fn too_large(&self) -> HttpError {
        if self.request_line_seen {
            HttpError::new(
                Refusal::HeadTooLarge,
                "the request head is larger than the server accepts",
            )
        } else {
            HttpError::new(
                Refusal::RequestLineTooLong,
                "the request line is longer than the server accepts",
            )
        }
    }
}

/// A line without the CR of its CRLF ending.
pub fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_types::StatusCode;

    fn scan_all(input: &[u8], max: usize) -> Result<Option<usize>, HttpError> {
        HeadScanner::new(max).scan(input)
    }

    #[test]
    fn finds_the_end_across_reads() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        let mut scanner = HeadScanner::new(8192);
        for end in 1..head.len() - 4 {
            assert_eq!(scanner.scan(&head[..end]), Ok(None), "after {end} bytes");
        }
        assert_eq!(scanner.scan(head), Ok(Some(head.len() - 4)));
    }

    #[test]
    fn accepts_bare_lf_and_leading_blank_lines() {
        let head = b"\r\n\nGET / HTTP/1.1\nHost: a\n\n";
        assert_eq!(scan_all(head, 8192), Ok(Some(head.len())));
    }

    #[test]
    fn limits_size_and_field_count() {
        let line = b"GET / HTTP/1.1\r\n";
        assert_eq!(
            scan_all(&[b'a'; 100], 100).unwrap_err().status(),
            StatusCode::UriTooLong
        );
        let mut big = line.to_vec();
        big.resize(100, b'x');
        assert_eq!(
            scan_all(&big, 100).unwrap_err().status(),
            StatusCode::RequestHeaderFieldsTooLarge
        );
        let mut many = line.to_vec();
        for _ in 0..=MAX_HEADER_FIELDS {
            many.extend_from_slice(b"X: y\r\n");
        }
        assert_eq!(
            scan_all(&many, 8192).unwrap_err().status(),
            StatusCode::RequestHeaderFieldsTooLarge
        );
    }

    #[test]
    fn accepts_a_head_of_exactly_the_limit() {
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.resize(200 - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(scan_all(&head, 200), Ok(Some(200)));
        assert!(scan_all(&head, 199).is_err());
    }
}
