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
//! - [`exchange`]: one request's record, for the metrics and the [`access_log`];
//!   [`forwarded`]: the client's address behind trusted proxies.

mod access_log;
mod dispatch;
mod encode;
mod error;
mod exchange;
mod forwarded;
mod head;
mod io;
mod request_id;
mod transport;

pub use access_log::AccessLog;
pub use error::HttpError;
pub use forwarded::TrustedProxies;
pub use head::{MAX_FIELD_LINE, MAX_HEADER_FIELDS};
pub use transport::{Peer, Socket, Transport};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use http_types::{Method, Response, StatusCode};
use log::{debug, error};
use smol::future::{FutureExt, poll_once};

use crate::handler::{Handler, ServerState};
use crate::metrics::{CloseReason, Metrics};
use crate::shutdown::Shutdown;
use dispatch::{Dispatch, dispatch};
use encode::{Persistence, encode};
use exchange::Exchange;
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
    /// Set when a shutdown is asked for (the first signal): from then on every
    /// response says `Connection: close`.
    pub shutdown: Shutdown,
    /// Set when the server stops accepting, after the shutdown delay: from then on
    /// connections idle between requests close.
    pub stopping: Shutdown,
    /// What the server counts.
    pub metrics: Metrics,
    /// The access log's settings; `None` while access lines are off.
    pub access_log: Option<AccessLog>,
}

/// Serves one connection until the client closes it, a timeout or an error ends it,
/// or shutdown finds it idle; returns why it ended. A panic inside is logged and ends
/// only this connection.
pub async fn serve<S: Transport, H: Handler>(
    stream: S,
    peer: Peer,
    shared: Arc<Shared<H>>,
) -> CloseReason {
    let mut connection = Connection {
        io: ConnectionIo::new(stream, peer, shared.limits.write_timeout),
        shared: &shared,
        served: 0,
    };
    match AssertUnwindSafe(connection.run()).catch_unwind().await {
        Ok(reason) => reason,
        Err(panic) => {
            error!(
                "{peer}: connection task panicked: {}",
                dispatch::panic_message(panic.as_ref())
            );
            CloseReason::Error
        }
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
    Close(CloseReason),
    /// Nothing more can be said: drop the connection.
    Drop(CloseReason),
}

/// Why no request head was read.
enum NoHead {
    /// The connection ended, or ends now, with nothing to answer.
    Ended(CloseReason),
    /// What arrived is answered with this error, then the connection closes.
    Refused(HttpError),
}

impl From<HttpError> for NoHead {
    fn from(error: HttpError) -> Self {
        NoHead::Refused(error)
    }
}

impl<S: Transport, H: Handler> Connection<'_, S, H> {
    async fn run(&mut self) -> CloseReason {
        loop {
            match self.serve_one().await {
                Next::KeepAlive => {}
                Next::Close(reason) => {
                    self.io.linger().await;
                    return reason;
                }
                Next::Drop(reason) => return reason,
            }
        }
    }

    /// Reads one request and answers it.
    async fn serve_one(&mut self) -> Next {
        let (head, received) = match self.read_request().await {
            Ok(read) => read,
            Err(NoHead::Ended(reason)) => return Next::Drop(reason),
            Err(NoHead::Refused(error)) => return self.refuse(&error).await,
        };
        self.served += 1;
        let shared = self.shared;
        let (route, decision) = dispatch::<H>(&head);
        let asked = dispatch::persistence(&head);
        // The exchange takes the head's method and id, the handler its request: moved
        // out of `head` field by field, as a request moved to a local of its own
        // would take 400 more bytes of every waiting connection's task.
        let peer = self.io.peer();
        let exchange = Exchange::new(
            &head.request,
            head.method,
            head.request_id,
            route,
            received,
            peer,
            shared,
        );
        let method = head.request.method();
        let (response, persistence) = match decision {
            Dispatch::Layer(answer) => (answer.response(), asked),
            Dispatch::Handler(endpoint) => {
                let server = ServerState {
                    metrics: &shared.metrics,
                    draining: shared.shutdown.is_triggered(),
                };
                let answer = pin!(dispatch::call(
                    &shared.handler,
                    endpoint,
                    head.request,
                    server
                ));
                match self.wait_for(answer, &exchange).await {
                    Some(Ok(response)) => (response, asked),
                    Some(Err(failed)) => (failed, Persistence::Close(CloseReason::Error)),
                    None => return Next::Drop(CloseReason::Error),
                }
            }
        };
        let persistence = if shared.shutdown.is_triggered() {
            Persistence::Close(CloseReason::Shutdown)
        } else {
            persistence
        };
        match self.send(response, method, persistence, &exchange).await {
            Next::KeepAlive if !self.skip_body(head.framing).await => {
                Next::Drop(CloseReason::Error)
            }
            next => next,
        }
    }

    /// Reads a head and decodes it; returns it with the time it was complete, or why
    /// there is none.
    async fn read_request(&mut self) -> Result<(Head, Instant), NoHead> {
        let len = self.read_head().await?;
        let received = Instant::now();
        let decoded = decode_head(&self.io.input()[..len]);
        self.io.consume(len);
        Ok((decoded?, received))
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
        exchange: &Exchange<'_>,
    ) -> Option<Result<Response, Response>> {
        let answered = match poll_once(answer.as_mut()).await {
            Some(answered) => answered,
            None if self.io.before_handler_waits().await.is_err() => return None,
            None => answer.await,
        };
        Some(answered.map_err(|panic| {
            error!(
                "{}: handler panicked on request {}: {}",
                self.io.peer(),
                exchange.request_id().as_str(),
                dispatch::panic_message(panic.as_ref())
            );
            dispatch::handler_failed()
        }))
    }

    /// Answers a request that cannot be served, then closes.
    async fn refuse(&mut self, error: &HttpError) -> Next {
        debug!("{}: {} ({})", self.io.peer(), error.status, error.detail);
        let exchange = Exchange::unreadable(self.io.peer(), self.shared);
        let reason = match error.status {
            StatusCode::RequestTimeout => CloseReason::HeaderTimeout,
            _ => CloseReason::Error,
        };
        let persistence = Persistence::Close(reason);
        self.send(error.response(), Method::Get, persistence, &exchange)
            .await
    }

    /// Encodes the response behind those not yet written, and records it; the write
    /// policy (`io`) decides when the bytes leave.
    async fn send(
        &mut self,
        response: Response,
        method: Method,
        persistence: Persistence,
        exchange: &Exchange<'_>,
    ) -> Next {
        let status = response.status();
        let id = exchange.request_id();
        let before = self.io.output().len();
        if let Err(error) = encode(response, method, persistence, id, self.io.output()) {
            error!(
                "{}: cannot encode a {status} response: {error}",
                self.io.peer()
            );
            return Next::Drop(CloseReason::Error);
        }
        let bytes = self.io.output().len() - before;
        let closing = match persistence {
            Persistence::Close(reason) => Some(reason),
            _ => None,
        };
        let written = self.io.queued(closing.is_some()).await;
        exchange.answered(self.io.peer(), status, bytes);
        match (written, closing) {
            (Err(error), _) if error.kind() == std::io::ErrorKind::TimedOut => {
                Next::Drop(CloseReason::WriteTimeout)
            }
            (Err(_), _) => Next::Drop(CloseReason::Error),
            (Ok(()), Some(reason)) => Next::Close(reason),
            (Ok(()), None) => Next::KeepAlive,
        }
    }

    /// Reads until the buffer holds a complete head; returns its length, or why there
    /// is none.
    async fn read_head(&mut self) -> Result<usize, NoHead> {
        let limits = &self.shared.limits;
        let mut scanner = HeadScanner::new(limits.max_head_size);
        // The header timeout runs from the head's first byte.
        let mut deadline = None;
        loop {
            if let Some(len) = scanner.scan(self.io.input())? {
                return Ok(len);
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
                    let stopping = (self.served > 0).then_some(&self.shared.stopping);
                    self.io.receive(idle_deadline, stopping).await
                }
            };
            let ended = match received {
                Received::Data => continue,
                Received::Eof if self.io.input().is_empty() => CloseReason::ClientClosed,
                Received::Eof => {
                    let error = "the connection ended inside a request head";
                    return Err(HttpError::bad_request(error).into());
                }
                Received::TimedOut if deadline.is_some() => {
                    let error = "the request head took too long to arrive";
                    return Err(HttpError::new(StatusCode::RequestTimeout, error).into());
                }
                Received::TimedOut => CloseReason::IdleTimeout,
                Received::ShutDown => CloseReason::Shutdown,
                Received::Failed => CloseReason::Error,
            };
            return Err(NoHead::Ended(ended));
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
