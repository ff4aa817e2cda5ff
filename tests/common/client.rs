//! A client that sends raw bytes over one connection and reads raw responses.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

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
    reader: BufReader<Transport>,
}

/// What the client speaks over: the TCP connection, or TLS over it.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.read(buf),
            Transport::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(buf),
            Transport::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.flush(),
            Transport::Tls(stream) => stream.flush(),
        }
    }
}

fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        Client::over(tcp(addr))
    }

    /// A client over `stream`, connected already (and past a PROXY header, say).
    pub fn over(stream: TcpStream) -> Self {
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(Transport::Plain(stream)),
        }
    }

    /// Connects over TLS with `config`, for `localhost`; the handshake completes
    /// here, or this returns its error.
    pub fn connect_tls(addr: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<Self> {
        Client::tls_over(tcp(addr), config)
    }

    /// [`Client::connect_tls`] over `stream`, connected already.
    pub fn tls_over(stream: TcpStream, config: &Arc<ClientConfig>) -> io::Result<Self> {
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let connection = ClientConnection::new(Arc::clone(config), name).unwrap();
        let mut stream = StreamOwned::new(connection, stream);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Client {
            reader: BufReader::new(Transport::Tls(Box::new(stream))),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        match self.reader.get_ref() {
            Transport::Plain(stream) => stream,
            Transport::Tls(stream) => &stream.sock,
        }
    }

    /// The TLS session, over TLS.
    pub fn tls(&self) -> Option<&ClientConnection> {
        match self.reader.get_ref() {
            Transport::Plain(_) => None,
            Transport::Tls(stream) => Some(&stream.conn),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).expect("send");
    }

    /// Sends `bytes`; an error if the server has closed.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let transport = self.reader.get_mut();
        transport.write_all(bytes)?;
        transport.flush()
    }

    /// Reads to the end of the stream.
    pub fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.reader.read_to_end(buf)
    }

    /// Closes the sending side: over TLS, with close_notify first.
    pub fn close_sending_side(&mut self) {
        if let Transport::Tls(stream) = self.reader.get_mut() {
            stream.conn.send_close_notify();
            stream.flush().expect("send close_notify");
        }
        self.stream().shutdown(std::net::Shutdown::Write).unwrap();
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
            // TLS without close_notify.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
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
