//! The HTTP/1.x connection layer.
//!
//! async-h1 parses request heads (`server::decode`) and encodes responses
//! (`server::Encoder`); this module owns everything around them. Each connection keeps
//! its own read buffer, so requests pipelined into one packet are all answered, in
//! order. It enforces the head size limit while the head arrives, the header,
//! keep-alive and write timeouts, HTTP/1.0 and keep-alive rules, and answers every
//! request it cannot serve with a status line and a JSON body before it closes.

mod head;
mod memory;
mod response;

pub use head::{HttpError, MAX_FIELD_LINE, MAX_HEADER_FIELDS};
pub use memory::{MemoryStream, serve_in_memory};

use std::any::Any;
use std::future::Future;
use std::io;
use std::io::Read as _;
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use http_types::{Method, Response, StatusCode, Version};
use log::{debug, error, info};
use smol::future::{FutureExt, poll_once};
use smol::io::{AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::routes::Handler;
use crate::shutdown::Shutdown;
use head::{Framing, HeadScanner, decode_head};
use response::{Persistence, encode, error_response, method_response, missing_path_response};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;
/// Encoded responses are written once this much is pending, even while pipelined
/// requests remain to be answered.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;
/// The largest unread Content-Length body that is skipped to keep the connection open;
/// after a larger one, or a chunked one, the connection closes.
const MAX_SKIPPED_BODY: u64 = 64 * 1024;
/// How long a closing connection keeps reading what the client still sends, so that
/// unread bytes do not make the kernel reset the connection before the client has
/// read the response.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bytes read and dropped while lingering.
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// The limits and timeouts every connection observes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a head may take once its first byte has arrived.
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// How long writing one response may take.
    pub write_timeout: Duration,
    /// The largest head accepted, in bytes.
    pub max_head_size: usize,
}

impl From<&Config> for Limits {
    fn from(config: &Config) -> Self {
        Limits {
            header_timeout: *config.header_timeout,
            keep_alive_timeout: *config.keep_alive_timeout,
            write_timeout: *config.write_timeout,
            max_head_size: config.max_head_size,
        }
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Shared<H> {
    /// The application.
    pub handler: H,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Set when the server starts shutting down.
    pub shutdown: Shutdown,
}

/// A byte stream that connections are served over: a TCP socket, or
/// [`MemoryStream`] in tests and fuzzing.
pub trait Transport: AsyncWrite + Unpin {
    /// Stops sending, so that the peer reads end-of-stream after what was written,
    /// while reading goes on.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Reads what has arrived without waiting; `WouldBlock` when nothing has.
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Waits until something new arrives (data, end-of-stream or an error) after a
    /// `try_read` found nothing.
    fn readable(&self) -> impl Future<Output = io::Result<()>>;
}

impl Transport for Async<TcpStream> {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.get_ref().shutdown(SocketShutdown::Write)
    }

    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `Async` made the socket non-blocking.
        self.get_ref().read(buf)
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        // Unlike `AsyncRead::poll_read`, this waits for an event newer than the
        // call: `poll_read` would first report the event its previous wait consumed,
        // costing one more read that finds nothing, every time.
        Async::readable(self)
    }
}

/// Serves one connection until the client closes it, a timeout or an error ends it,
/// or shutdown finds it idle.
pub async fn serve<S: Transport, H: Handler>(stream: S, peer: SocketAddr, shared: Arc<Shared<H>>) {
    let mut connection = Connection {
        stream,
        peer,
        shared: &shared,
        buffer: Vec::new(),
        out: Vec::new(),
        served: 0,
    };
    connection.run().await;
}

/// Polls once a future that only works on memory (async-h1's decoder and encoder over
/// an in-memory buffer), so it finishes without waiting; `None` if it did wait.
/// Polling in place rather than awaiting keeps the future's state on the stack for
/// the call, not in every connection's task for the connection's life.
fn finish_in_memory<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

struct Connection<'a, S, H> {
    stream: S,
    peer: SocketAddr,
    shared: &'a Shared<H>,
    /// Bytes read and not yet consumed: the current head, and what was pipelined after it.
    buffer: Vec<u8>,
    /// Encoded responses not yet written, reused from one request to the next.
    out: Vec<u8>,
    /// Requests answered on this connection.
    served: u64,
}

/// How one read ended.
enum Read {
    Data,
    Eof,
    TimedOut,
    ShutDown,
    Failed(io::Error),
}

/// What happens to the connection after one exchange.
enum Next {
    /// Read the next request.
    KeepAlive,
    /// A response said `Connection: close`: close gracefully.
    Close,
    /// Nothing more can be said: drop the connection.
    Drop,
}

/// What the access log line says about the request.
struct Exchange<'r> {
    method: &'r str,
    path: &'r str,
    version: &'r str,
    received: Instant,
}

impl<S: Transport, H: Handler> Connection<'_, S, H> {
    async fn run(&mut self) {
        loop {
            match self.serve_one().await {
                Next::KeepAlive => {}
                Next::Close => return self.linger().await,
                Next::Drop => return,
            }
        }
    }

    /// Reads one request and answers it.
    async fn serve_one(&mut self) -> Next {
        let head_len = match self.read_head().await {
            Ok(Some(len)) => len,
            Ok(None) => return Next::Drop,
            Err(error) => return self.refuse(&error).await,
        };
        let received = Instant::now();
        let decoded = decode_head(&self.buffer[..head_len]);
        self.buffer.drain(..head_len);
        let head = match decoded {
            Ok(head) => head,
            Err(error) => return self.refuse(&error).await,
        };
        self.served += 1;

        let method = head.request.method();
        let known_method = head.unknown_method.is_none().then_some(method);
        let method_name = head.method_name();
        let path = head.request.url().path().to_owned();
        let version = head.request.version().unwrap_or(Version::Http1_1);
        let allowed = if head.asterisk {
            Some(&[Method::Get, Method::Head][..])
        } else {
            self.shared.handler.allowed_methods(&path)
        };

        let mut handler_failed = false;
        let response = match allowed {
            None => missing_path_response(known_method.as_ref()),
            Some(allowed)
                if !head.asterisk && known_method.is_some_and(|m| allowed.contains(&m)) =>
            {
                let mut answer = pin!(
                    AssertUnwindSafe(self.shared.handler.respond(head.request)).catch_unwind()
                );
                let answered = match poll_once(answer.as_mut()).await {
                    Some(answered) => answered,
                    None if self.prepare_to_wait().await.is_err() => return Next::Drop,
                    None => answer.await,
                };
                match answered {
                    Ok(response) => response,
                    Err(panic) => {
                        error!(
                            "{}: handler panicked on {method_name} {path}: {}",
                            self.peer,
                            panic_message(panic.as_ref())
                        );
                        handler_failed = true;
                        error_response(&HttpError::new(
                            StatusCode::InternalServerError,
                            "the request handler failed",
                        ))
                    }
                }
            }
            Some(allowed) => method_response(known_method.as_ref(), allowed),
        };

        // The connection stays open only if whatever body follows can be skipped.
        let body_skippable = match head.framing {
            Framing::Empty | Framing::Length(0) => true,
            Framing::Length(n) => n <= MAX_SKIPPED_BODY && !head.expects_continue,
            Framing::Chunked => false,
        };
        let persistence = if head.wants_close
            || !body_skippable
            || handler_failed
            || self.shared.shutdown.is_triggered()
        {
            Persistence::Close
        } else if version == Version::Http1_0 {
            Persistence::KeepAliveHttp10
        } else {
            Persistence::KeepAlive
        };
        let exchange = Exchange {
            method: &method_name,
            path: &path,
            version: version_name(version),
            received,
        };
        match self.send(response, method, persistence, &exchange).await {
            Next::KeepAlive if !self.skip_body(head.framing).await => Next::Drop,
            next => next,
        }
    }

    /// Answers a request that cannot be served, then closes.
    async fn refuse(&mut self, error: &HttpError) -> Next {
        let exchange = Exchange {
            method: "-",
            path: "-",
            version: "-",
            received: Instant::now(),
        };
        debug!("{}: {} ({})", self.peer, error.status, error.detail);
        let response = error_response(error);
        self.send(response, Method::Get, Persistence::Close, &exchange)
            .await
    }

    /// Encodes the response behind those not yet written. It is written, together
    /// with them, when the connection next waits for input or for a handler, or at
    /// once if it ends the connection or enough is pending: so the answers to
    /// pipelined requests leave in one write.
    async fn send(
        &mut self,
        response: Response,
        method: Method,
        persistence: Persistence,
        exchange: &Exchange<'_>,
    ) -> Next {
        let status = response.status();
        if let Err(error) = encode(response, method, persistence, &mut self.out) {
            error!("{}: cannot encode a {status} response: {error}", self.peer);
            return Next::Drop;
        }
        let written = if persistence == Persistence::Close || self.out.len() >= MAX_PENDING_OUTPUT {
            self.flush().await
        } else {
            Ok(())
        };
        info!(
            target: "smol_toy::access",
            "{} \"{} {} {}\" {} {:.3}ms",
            self.peer,
            exchange.method,
            exchange.path,
            exchange.version,
            u16::from(status),
            exchange.received.elapsed().as_secs_f64() * 1000.0
        );
        match (written, persistence) {
            (Err(_), _) => Next::Drop,
            (Ok(()), Persistence::Close) => Next::Close,
            (Ok(()), _) => Next::KeepAlive,
        }
    }

    /// Reads until the buffer holds a complete head; returns its length, `None` when
    /// the connection ended or idled out with nothing to answer, or the error to
    /// answer with.
    async fn read_head(&mut self) -> Result<Option<usize>, HttpError> {
        let limits = &self.shared.limits;
        let mut scanner = HeadScanner::new(limits.max_head_size);
        // The header timeout runs from the head's first byte.
        let mut deadline = None;
        loop {
            if let Some(len) = scanner.scan(&self.buffer)? {
                return Ok(Some(len));
            }
            if deadline.is_none() && !self.buffer.is_empty() {
                deadline = Some(Instant::now() + limits.header_timeout);
            }
            let read = match deadline {
                Some(deadline) => self.fill(deadline, false).await,
                // Idle between requests. A connection that has not sent its first
                // request yet gets to send it even during shutdown.
                None => {
                    let idle_deadline = Instant::now() + limits.keep_alive_timeout;
                    self.fill(idle_deadline, self.served > 0).await
                }
            };
            match read {
                Read::Data => {}
                Read::Eof if self.buffer.is_empty() => return Ok(None),
                Read::Eof => {
                    return Err(HttpError::new(
                        StatusCode::BadRequest,
                        "the connection ended inside a request head",
                    ));
                }
                Read::TimedOut if deadline.is_some() => {
                    return Err(HttpError::new(
                        StatusCode::RequestTimeout,
                        "the request head took too long to arrive",
                    ));
                }
                Read::TimedOut | Read::ShutDown => return Ok(None),
                Read::Failed(error) => {
                    debug!("{}: connection failed: {error}", self.peer);
                    return Ok(None);
                }
            }
        }
    }

    /// Reads and drops a Content-Length body the handler did not read. Returns
    /// whether the connection is ready for the next request.
    async fn skip_body(&mut self, framing: Framing) -> bool {
        let mut remaining = match framing {
            Framing::Empty => return true,
            Framing::Length(length) => length,
            Framing::Chunked => return false,
        };
        let deadline = Instant::now() + self.shared.limits.header_timeout;
        loop {
            let buffered = self
                .buffer
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            self.buffer.drain(..buffered);
            remaining -= buffered as u64;
            if remaining == 0 {
                return true;
            }
            if !matches!(self.fill(deadline, false).await, Read::Data) {
                return false;
            }
        }
    }

    /// Closes the sending side, then reads and drops what the client still sends for
    /// a short while, so that the client reads the last response before the close.
    async fn linger(&mut self) {
        if self.stream.shutdown_write().is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let mut discarded = 0;
        while discarded < LINGER_MAX_BYTES {
            discarded += self.buffer.len();
            self.buffer.clear();
            if !matches!(self.fill(deadline, false).await, Read::Data) {
                return;
            }
        }
    }

    /// Gets the connection ready for a handler that waits: answers to earlier
    /// pipelined requests go out first, and buffers with nothing in them are given
    /// back, so that thousands of connections waiting on `/toy` hold no buffers.
    async fn prepare_to_wait(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.out = Vec::new();
        if self.buffer.is_empty() {
            self.buffer = Vec::new();
        }
        Ok(())
    }

    /// Writes the responses not yet written, within the write timeout.
    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let timeout = self.shared.limits.write_timeout;
        let written = self
            .stream
            .write_all(&self.out)
            .or(async {
                Timer::after(timeout).await;
                Err(io::ErrorKind::TimedOut.into())
            })
            .await;
        self.out.clear();
        if let Err(error) = &written {
            debug!("{}: writing the response failed: {error}", self.peer);
        }
        written
    }

    /// Reads what the socket has into the buffer, waiting at most until `deadline`
    /// and, if `stop_on_shutdown`, until shutdown starts. Pending responses are
    /// written first, since the client may wait for them before it sends more.
    async fn fill(&mut self, deadline: Instant, stop_on_shutdown: bool) -> Read {
        if let Err(error) = self.flush().await {
            return Read::Failed(error);
        }
        let Connection {
            stream,
            buffer,
            shared,
            ..
        } = self;
        let filled = buffer.len();
        buffer.resize(filled + READ_CHUNK, 0);
        let shutdown = &shared.shutdown;
        let mut received = 0;
        let read = async {
            loop {
                match stream.try_read(&mut buffer[filled..]) {
                    Ok(0) => return Read::Eof,
                    Ok(n) => {
                        received = n;
                        return Read::Data;
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => return Read::Failed(error),
                }
                if let Err(error) = stream.readable().await {
                    return Read::Failed(error);
                }
            }
        };
        let timeout = async {
            Timer::at(deadline).await;
            Read::TimedOut
        };
        let stopped = async {
            if stop_on_shutdown {
                shutdown.triggered().await;
                Read::ShutDown
            } else {
                std::future::pending().await
            }
        };
        // `or` polls in order, so bytes that have already arrived win over a timeout
        // or the shutdown.
        let result = read.or(timeout).or(stopped).await;
        buffer.truncate(filled + received);
        result
    }
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::Http1_0 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}
