//! A client that sends raw bytes over one connection and reads raw responses.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test client waits for any one read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body_text()))
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the server said it closes the connection.
    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A client speaking raw bytes over one connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Sends a GET for `path` and reads the response.
    pub fn get(&mut self, path: &str) -> RawResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response()
    }

    /// Reads one response to a request that was not HEAD.
    pub fn response(&mut self) -> RawResponse {
        self.try_response(false)
            .expect("reading a response")
            .expect("a response, not a close")
    }

    /// Reads one response to a HEAD request (no body follows the head).
    pub fn head_response(&mut self) -> RawResponse {
        self.try_response(true)
            .expect("reading a response")
            .expect("a response, not a close")
    }

    /// Reads one response; `None` if the connection closed first.
    pub fn try_response(&mut self, to_head: bool) -> io::Result<Option<RawResponse>> {
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Ok(None);
        }
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        assert!(
            version.starts_with("HTTP/1.1"),
            "status line: {status_line:?}"
        );
        let status = parts
            .next()
            .unwrap_or_default()
            .parse()
            .expect("status code");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        // 1xx, 204 and 304 have no body, and 1xx and 204 no Content-Length.
        let bodiless = matches!(response.status, 100..=199 | 204 | 304);
        if !to_head && !bodiless {
            let length: usize = response
                .header("content-length")
                .expect("every response with a body has a content-length")
                .parse()
                .unwrap();
            response.body.resize(length, 0);
            self.reader.read_exact(&mut response.body)?;
        }
        Ok(Some(response))
    }

    /// Whether the server has closed the connection: a read sees the end (or a
    /// reset) rather than data or a timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => panic!("unexpected byte {:?} after the response", byte[0] as char),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
            Err(_) => false,
        }
    }

    /// Waits up to `timeout` for the server to close, without expecting data.
    pub fn closes_within(&mut self, timeout: Duration) -> bool {
        self.stream().set_read_timeout(Some(timeout)).unwrap();
        let closed = self.is_closed();
        self.stream().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        closed
    }
}
