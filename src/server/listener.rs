//! The listening sockets and the accept loop: the connection cap, and what to do
//! when `accept` fails.

use std::fmt;
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use log::{debug, info, warn};
use smol::Executor;
use smol::lock::{Semaphore, SemaphoreGuardArc};

use std::future::Future;

use futures_util::FutureExt;

use super::drain::{OpenConnection, OpenConnections};
use super::setup::ConnectionSetup;
use crate::connection::CloseReason;
use crate::handler::Handler;
use crate::http3;
use crate::metrics::QuicHandshake;
use crate::quic::endpoint::Handshakes;
use crate::shared::Shared;
use crate::transport::{Acceptor, Peer, Socket};

/// How long the accept loop pauses when `accept` fails (out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning about not accepting in this long, so that a server at its
/// descriptor or connection limit, flapping between full and accepting, does not
/// flood its log.
const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// A listening socket: TCP, or a Unix domain socket.
#[derive(Debug)]
pub enum Listener {
    /// Listens for TCP connections.
    Tcp(TcpListener),
    /// Listens on a Unix domain socket.
    Unix(UnixListener),
    /// Receives QUIC over UDP: HTTP/3.
    Udp(UdpSocket),
}

impl Listener {
    /// Accepts one connection that has arrived, without waiting: the connection,
    /// registered with the reactor, and who is at the other end.
    fn accept(&self) -> io::Result<(Socket, Peer)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, addr) = listener.accept()?;
                // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold small
                // responses back by up to 40 ms.
                if let Err(error) = stream.set_nodelay(true) {
                    debug!("{addr}: cannot set TCP_NODELAY: {error}");
                }
                Ok((Socket::tcp(stream)?, Peer::at(addr)))
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept()?;
                Ok((Socket::unix(stream)?, Peer::Unix))
            }
            Listener::Udp(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a UDP socket is served by its QUIC endpoint",
            )),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(listener) => listener.as_fd(),
            Listener::Unix(listener) => listener.as_fd(),
            Listener::Udp(socket) => socket.as_fd(),
        }
    }
}

/// `http://ADDRESS:PORT` or `unix:PATH`.
impl Listener {
    /// The listener's address as a URL: `https://` for a TCP listener when `https`,
    /// else as [`Display`](fmt::Display) shows it.
    pub fn url(&self, https: bool) -> String {
        match (self, https) {
            (Listener::Tcp(listener), true) => match listener.local_addr() {
                Ok(addr) => format!("https://{addr}"),
                Err(_) => "a TCP socket".to_owned(),
            },
            (Listener::Udp(socket), true) => match socket.local_addr() {
                Ok(addr) => format!("https://{addr} (HTTP/3, UDP)"),
                Err(_) => "a UDP socket".to_owned(),
            },
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => write!(f, "http://{addr}"),
                Err(_) => f.write_str("a TCP socket"),
            },
            Listener::Unix(listener) => match listener.local_addr() {
                Ok(addr) => match addr.as_pathname() {
                    Some(path) => write!(f, "unix:{}", path.display()),
                    None => f.write_str("an unnamed Unix socket"),
                },
                Err(_) => f.write_str("a Unix socket"),
            },
            Listener::Udp(socket) => match socket.local_addr() {
                Ok(addr) => write!(f, "udp://{addr}"),
                Err(_) => f.write_str("a UDP socket"),
            },
        }
    }
}

/// A listener the server serves.
#[derive(Debug)]
pub struct Listening {
    /// The socket.
    pub listener: Listener,
    /// Passed by systemd (socket activation): systemd keeps it open across restarts,
    /// so the connections waiting in its backlog at shutdown are left for the next
    /// process rather than accepted.
    pub inherited: bool,
}

/// Accepts connections and spawns a task for each on the executor.
pub struct AcceptLoop<'a, H, A> {
    /// Runs the connection tasks.
    pub executor: &'a Executor<'static>,
    /// What the connection tasks share.
    pub shared: &'a Arc<Shared<H>>,
    /// Reads each connection's PROXY header, and makes its stream out of its socket.
    pub setup: Arc<ConnectionSetup<A>>,
    /// One permit per connection that may be open.
    pub permits: Arc<Semaphore>,
    /// How many permits there are.
    pub connection_limit: usize,
    /// The connections open, for the drain.
    pub open: OpenConnections,
    /// The QUIC handshakes in progress.
    pub handshakes: Handshakes,
}

impl<H: Handler, A: Acceptor> AcceptLoop<'_, H, A> {
    /// Accepts until the server stops accepting (the shutdown delay after a shutdown
    /// was asked for). At the connection cap, new connections
    /// wait in the listen backlog; when `accept` fails, the loop pauses and retries.
    pub async fn accept_until_shutdown(&self, listener: &Async<Listener>) {
        let shutdown = &self.shared.rules.accepting_stopped;
        let mut warnings = AcceptWarnings::default();
        loop {
            // A permit is taken only once a connection is waiting, so that an idle
            // listener holds none that a QUIC connection could have.
            match shutdown.until_triggered(listener.readable()).await {
                None => return,
                Some(Ok(())) => {}
                Some(Err(error)) => warn!("waiting for connections failed: {error}"),
            }
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
            match listener.get_ref().accept() {
                Ok((stream, peer)) => {
                    warnings.recovered();
                    self.spawn_connection(stream, peer, permit);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
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
    pub fn accept_backlog(&self, listener: &Async<Listener>) {
        while let Some(permit) = self.permits.try_acquire_arc() {
            match listener.get_ref().accept() {
                Ok((stream, peer)) => self.spawn_connection(stream, peer, permit),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    warn!("accept failed while shutting down: {error}");
                    return;
                }
            }
        }
    }

    /// Accepts QUIC connections on `endpoint` until the server stops accepting,
    /// then refuses them. At the connection cap, a new one is refused at once
    /// (CONNECTION_REFUSED): a QUIC client has no backlog to wait in.
    pub async fn accept_quic_until_shutdown(&self, endpoint: &quinn::Endpoint) {
        let shutdown = &self.shared.rules.accepting_stopped;
        let metrics = &self.shared.metrics.http3;
        while let Some(Some(incoming)) = shutdown.until_triggered(endpoint.accept()).await {
            let must_validate = !incoming.remote_address_validated() && incoming.may_retry();
            if must_validate && self.handshakes.retry_needed() {
                metrics.handshake(QuicHandshake::Retry);
                if let Err(error) = incoming.retry() {
                    error.into_incoming().refuse();
                }
                continue;
            }
            let Some(permit) = self.permits.try_acquire_arc() else {
                metrics.handshake(QuicHandshake::Refused);
                incoming.refuse();
                continue;
            };
            let handshaking = self.handshakes.start();
            self.spawn(permit, |shared| http3::serve(incoming, handshaking, shared));
        }
        let refusing = endpoint.clone();
        self.executor
            .spawn(async move {
                while let Some(incoming) = refusing.accept().await {
                    incoming.refuse();
                }
            })
            .detach();
    }

    fn spawn_connection(&self, socket: Socket, peer: Peer, permit: SemaphoreGuardArc) {
        let setup = Arc::clone(&self.setup);
        self.spawn(permit, move |shared| async move {
            setup.accept_and_serve(socket, peer, shared).await
        });
    }

    /// Runs a connection's task, `serve`, holding `permit` and counted as open
    /// until it ends.
    fn spawn<F>(&self, permit: SemaphoreGuardArc, serve: impl FnOnce(Arc<Shared<H>>) -> F)
    where
        F: Future<Output = CloseReason> + Send + 'static,
    {
        let held = HeldByConnection {
            _permit: permit,
            _open: self.open.open(),
        };
        let shared = Arc::clone(self.shared);
        shared.metrics.connection_opened();
        // A combinator, not an async block awaiting `serve`'s future: that would
        // hold the future twice over, as its capture and as what it awaits.
        let served = serve(Arc::clone(&shared)).map(move |reason| {
            drop(held);
            shared.metrics.connection_closed(reason);
        });
        self.executor.spawn(served).detach();
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
