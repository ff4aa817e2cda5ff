//! The HTTP/1.x connection layer: it knows the [`Handler`] contract, never the
//! application or the command line.
//!
//! async-h1 parses request heads and encodes responses; this layer owns everything
//! around them. Each connection keeps its own read buffer, so requests pipelined into
//! one packet are all answered, in order. It enforces the head size limit while the
//! head arrives, the header, keep-alive and write timeouts, HTTP/1.0 and keep-alive
//! rules, and answers every request it cannot serve with a status line and a JSON
//! body before it closes.
//!
//! - [`head`]: reading a request head (scan, request line, field rules, async-h1).
//! - [`dispatch`]: who answers, and whether the connection stays open.
//! - [`encode`]: responses into bytes; [`error`]: the connection layer's own answers.
//! - [`io`]: reads and writes, and the write policy; [`transport`]: the streams.
//! - [`access_log`]: one line per request.

mod access_log;
mod dispatch;
mod encode;
mod error;
mod head;
mod io;
mod request_id;
mod transport;

pub use error::HttpError;
pub use head::{MAX_FIELD_LINE, MAX_HEADER_FIELDS};
pub use transport::Transport;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http_types::{Method, Response, StatusCode};
use log::{debug, error};
use smol::future::{FutureExt, poll_once};

use crate::handler::Handler;
use crate::shutdown::Shutdown;
use access_log::AccessLogEntry;
use dispatch::{Dispatch, dispatch};
use encode::{Persistence, encode};
use head::{Head, HeadScanner, decode_head};
use io::{ConnectionIo, Received};

/// The limits and timeouts every connection observes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a head may take once its first byte has arrived; also how long an
    /// unread request body may take to arrive after its head.
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// How long writing one response may take.
    pub write_timeout: Duration,
    /// The largest head accepted, in bytes.
    pub max_head_size: usize,
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

/// Serves one connection until the client closes it, a timeout or an error ends it,
/// or shutdown finds it idle. A panic inside is logged and ends only this connection.
pub async fn serve<S: Transport, H: Handler>(stream: S, peer: SocketAddr, shared: Arc<Shared<H>>) {
    let mut connection = Connection {
        io: ConnectionIo::new(stream, peer, shared.limits.write_timeout),
        shared: &shared,
        served: 0,
    };
    if let Err(panic) = AssertUnwindSafe(connection.run()).catch_unwind().await {
        error!(
            "{peer}: connection task panicked: {}",
            dispatch::panic_message(panic.as_ref())
        );
    }
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

struct Connection<'a, S, H> {
    io: ConnectionIo<S>,
    shared: &'a Shared<H>,
    /// Requests answered on this connection.
    served: u64,
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

impl<S: Transport, H: Handler> Connection<'_, S, H> {
    async fn run(&mut self) {
        loop {
            match self.serve_one().await {
                Next::KeepAlive => {}
                Next::Close => return self.io.linger().await,
                Next::Drop => return,
            }
        }
    }

    /// Reads one request and answers it.
    async fn serve_one(&mut self) -> Next {
        let (head, received) = match self.read_request().await {
            Ok(Some(read)) => read,
            Ok(None) => return Next::Drop,
            Err(error) => return self.refuse(&error).await,
        };
        self.served += 1;
        let decision = dispatch(&self.shared.handler, &head);
        let asked = dispatch::persistence(&head);
        // The entry takes the head's method and id; the handler gets its request.
        let entry = AccessLogEntry::new(head.method, &head.request, head.request_id, received);
        let method = head.request.method();
        let (response, persistence) = match decision {
            Dispatch::Layer(answer) => (answer.response(), asked),
            Dispatch::Handler(endpoint) => {
                let shared = self.shared;
                let answer = pin!(dispatch::call(&shared.handler, endpoint, head.request));
                match self.wait_for(answer, &entry).await {
                    Some(Ok(response)) => (response, asked),
                    Some(Err(failed)) => (failed, Persistence::Close),
                    None => return Next::Drop,
                }
            }
        };
        let persistence = if self.shared.shutdown.is_triggered() {
            Persistence::Close
        } else {
            persistence
        };
        match self.send(response, method, persistence, &entry).await {
            Next::KeepAlive if !self.skip_body(head.framing).await => Next::Drop,
            next => next,
        }
    }

    /// Reads a head and decodes it; returns it with the time it was complete, `None`
    /// when the connection ended or idled out with nothing to answer, or the error to
    /// answer with.
    async fn read_request(&mut self) -> Result<Option<(Head, Instant)>, HttpError> {
        let Some(len) = self.read_head().await? else {
            return Ok(None);
        };
        let received = Instant::now();
        let decoded = decode_head(&self.io.input()[..len]);
        self.io.consume(len);
        decoded.map(|head| Some((head, received)))
    }

    /// Waits for the handler's answer. Answers to earlier requests go out first if it
    /// has to wait. Returns its response, or a 500 that must close the connection if
    /// it panicked, or `None` if the connection failed meanwhile.
    ///
    /// It takes the handler's future pinned by reference: an `async fn` that takes a
    /// future by value holds it twice, and this one is held by every waiting request.
    async fn wait_for(
        &mut self,
        mut answer: Pin<&mut impl Future<Output = dispatch::Answered>>,
        entry: &AccessLogEntry,
    ) -> Option<Result<Response, Response>> {
        let answered = match poll_once(answer.as_mut()).await {
            Some(answered) => answered,
            None if self.io.before_handler_waits().await.is_err() => return None,
            None => answer.await,
        };
        Some(answered.map_err(|panic| {
            error!(
                "{}: handler panicked on {}: {}",
                self.io.peer(),
                entry.request(),
                dispatch::panic_message(panic.as_ref())
            );
            dispatch::handler_failed()
        }))
    }

    /// Answers a request that cannot be served, then closes.
    async fn refuse(&mut self, error: &HttpError) -> Next {
        debug!("{}: {} ({})", self.io.peer(), error.status, error.detail);
        let entry = AccessLogEntry::unreadable();
        self.send(error.response(), Method::Get, Persistence::Close, &entry)
            .await
    }

    /// Encodes the response behind those not yet written, and logs it; the write
    /// policy (`io`) decides when the bytes leave.
    async fn send(
        &mut self,
        response: Response,
        method: Method,
        persistence: Persistence,
        entry: &AccessLogEntry,
    ) -> Next {
        let status = response.status();
        let id = entry.request_id();
        if let Err(error) = encode(response, method, persistence, id, self.io.output()) {
            error!(
                "{}: cannot encode a {status} response: {error}",
                self.io.peer()
            );
            return Next::Drop;
        }
        let closing = persistence == Persistence::Close;
        let written = self.io.queued(closing).await;
        entry.log(self.io.peer(), status);
        match (written, closing) {
            (Err(_), _) => Next::Drop,
            (Ok(()), true) => Next::Close,
            (Ok(()), false) => Next::KeepAlive,
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
            if let Some(len) = scanner.scan(self.io.input())? {
                return Ok(Some(len));
            }
            if deadline.is_none() && !self.io.input().is_empty() {
                deadline = Some(Instant::now() + limits.header_timeout);
            }
            let received = match deadline {
                Some(deadline) => self.io.receive(deadline, None).await,
                // Idle between requests. A connection that has not sent its first
                // request yet gets to send it even during shutdown.
                None => {
                    let idle_deadline = Instant::now() + limits.keep_alive_timeout;
                    let shutdown = (self.served > 0).then_some(&self.shared.shutdown);
                    self.io.receive(idle_deadline, shutdown).await
                }
            };
            match received {
                Received::Data => {}
                Received::Eof if self.io.input().is_empty() => return Ok(None),
                Received::Eof => {
                    return Err(HttpError::bad_request(
                        "the connection ended inside a request head",
                    ));
                }
                Received::TimedOut if deadline.is_some() => {
                    return Err(HttpError::new(
                        StatusCode::RequestTimeout,
                        "the request head took too long to arrive",
                    ));
                }
                Received::TimedOut | Received::ShutDown | Received::Failed => return Ok(None),
            }
        }
    }

    /// Reads and drops a Content-Length body the handler did not read, within the
    /// header timeout. Returns whether the connection is ready for the next request.
    async fn skip_body(&mut self, framing: head::Framing) -> bool {
        match framing {
            head::Framing::Empty => true,
            head::Framing::Length(length) => {
                let deadline = Instant::now() + self.shared.limits.header_timeout;
                self.io.skip(length, deadline).await
            }
            head::Framing::Chunked => false,
        }
    }
}
