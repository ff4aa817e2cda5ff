//! The listening socket and the accept loop: the backlog, the connection cap, and
//! what to do when `accept` fails.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use log::{debug, info, warn};
use smol::Executor;
use smol::lock::{Semaphore, SemaphoreGuardArc};
use socket2::{Domain, Protocol, Socket, Type};

use super::drain::{OpenConnection, OpenConnections};
use crate::connection::{self, Shared};
use crate::handler::Handler;

/// How long the accept loop pauses when `accept` fails (out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning about not accepting in this long, so that a server at its
/// descriptor or connection limit, flapping between full and accepting, does not
/// flood its log.
const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Opens a listening socket with the given backlog (std's `bind` fixes it at 128,
/// which overflows when thousands of clients connect at once).
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Accepts connections and spawns a task for each on the executor.
pub struct Acceptor<'a, H> {
    /// Runs the connection tasks.
    pub executor: &'a Executor<'static>,
    /// What the connection tasks share.
    pub shared: &'a Arc<Shared<H>>,
    /// One permit per connection that may be open.
    pub permits: Arc<Semaphore>,
    /// How many permits there are.
    pub connection_limit: usize,
    /// The connections open, for the drain.
    pub open: OpenConnections,
}

impl<H: Handler> Acceptor<'_, H> {
    /// Accepts until the server stops accepting (the shutdown delay after a shutdown
    /// was asked for). At the connection cap, new connections
    /// wait in the listen backlog; when `accept` fails, the loop pauses and retries.
    pub async fn accept_until_shutdown(&self, listener: &Async<TcpListener>) {
        let shutdown = &self.shared.stopping;
        let mut warnings = AcceptWarnings::default();
        loop {
            let permit = match self.permits.try_acquire_arc() {
                Some(permit) => permit,
                None => {
                    warnings.warn(format_args!(
                        "{} connections open, the limit: new ones wait until one closes",
                        self.connection_limit
                    ));
                    match shutdown.until_triggered(self.permits.acquire_arc()).await {
                        Some(permit) => permit,
                        None => return,
                    }
                }
            };
            match shutdown.until_triggered(listener.accept()).await {
                None => return,
                Some(Ok((stream, peer))) => {
                    warnings.recovered();
                    self.spawn_connection(stream, peer, permit);
                }
                Some(Err(error)) => {
                    self.shared.metrics.accept_failed();
                    // Out of descriptors (EMFILE, ENFILE) or memory, or a connection
                    // reset before it was accepted: say so, pause, and retry.
                    warnings.warn(format_args!(
                        "accept failed: {error}; retrying every {ACCEPT_BACKOFF:?}"
                    ));
                    drop(permit);
                    let paused = shutdown.until_triggered(Timer::after(ACCEPT_BACKOFF));
                    if paused.await.is_none() {
                        return;
                    }
                }
            }
        }
    }

    /// Accepts the connections that completed their handshake before the shutdown,
    /// so that closing the listener does not reset them. They are served like any
    /// other: their first request is answered, with `Connection: close`.
    pub fn accept_backlog(&self, listener: &Async<TcpListener>) {
        while let Some(permit) = self.permits.try_acquire_arc() {
            match listener.get_ref().accept() {
                Ok((stream, peer)) => match Async::new(stream) {
                    Ok(stream) => self.spawn_connection(stream, peer, permit),
                    Err(error) => warn!("{peer}: cannot register the connection: {error}"),
                },
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    warn!("accept failed while shutting down: {error}");
                    return;
                }
            }
        }
    }

    fn spawn_connection(
        &self,
        stream: Async<TcpStream>,
        peer: SocketAddr,
        permit: SemaphoreGuardArc,
    ) {
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold small
        // responses back by up to 40 ms.
        if let Err(error) = stream.get_ref().set_nodelay(true) {
            debug!("{peer}: cannot set TCP_NODELAY: {error}");
        }
        let held = HeldByConnection {
            _permit: permit,
            _open: self.open.open(),
        };
        let shared = Arc::clone(self.shared);
        shared.metrics.connection_opened();
        self.executor
            .spawn(async move {
                let _held = held;
                let reason = connection::serve(stream, peer, Arc::clone(&shared)).await;
                shared.metrics.connection_closed(reason);
            })
            .detach();
    }
}

/// What a connection task holds while it runs: its place under the connection cap,
/// and its place in the drain's count.
struct HeldByConnection {
    _permit: SemaphoreGuardArc,
    _open: OpenConnection,
}

/// Rate-limits the accept loop's warnings, and says once when accepting resumes.
#[derive(Default)]
struct AcceptWarnings {
    last: Option<Instant>,
    /// Set when a warning was logged and no accept has succeeded since.
    pending_recovery: bool,
}

impl AcceptWarnings {
    /// Logs `message` unless a warning went out less than the interval ago.
    fn warn(&mut self, message: std::fmt::Arguments<'_>) {
        if self
            .last
            .is_none_or(|at| at.elapsed() >= ACCEPT_WARNING_INTERVAL)
        {
            warn!("{message} (this warning repeats at most every {ACCEPT_WARNING_INTERVAL:?})");
            self.last = Some(Instant::now());
            self.pending_recovery = true;
        }
    }

    /// Notes a successful accept.
    fn recovered(&mut self) {
        if std::mem::take(&mut self.pending_recovery) {
            info!("accepting connections again");
        }
    }
}
