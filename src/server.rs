//! The server: the listening socket, the accept loop, the worker threads that run
//! the executor, and the drain at shutdown.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use log::{debug, error, info, warn};
use smol::Executor;
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;
use smol::lock::{Semaphore, SemaphoreGuardArc};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;
use crate::connection::{self, Limits, Shared, panic_message};
use crate::routes::Handler;
use crate::shutdown::Shutdown;

/// How long the accept loop pauses when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning about not accepting in this long, so that a server at its
/// descriptor or connection limit, flapping between full and accepting, does not
/// flood its log.
const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// How a run of the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished before the shutdown timeout.
    Drained,
    /// The shutdown timeout expired with this many connections still open.
    TimedOut {
        /// Connections that were cut off.
        open: usize,
    },
}

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

/// Serves `listener` with `handler` on `config.thread_count()` threads until
/// `shutdown` is triggered and the open connections have drained (or the shutdown
/// timeout expired). Blocks the calling thread, which is one of the workers.
pub fn run<H: Handler>(
    listener: TcpListener,
    config: &Config,
    handler: H,
    shutdown: Shutdown,
) -> io::Result<Stopped> {
    let listener = Async::new(listener)?;
    let shared = Arc::new(Shared {
        handler,
        limits: Limits::from(config),
        shutdown,
    });
    let executor = Executor::new();
    let workers_done = Shutdown::new();
    let serve = Server {
        executor: &executor,
        shared: &shared,
        limit: Arc::new(Semaphore::new(config.connection_limit())),
        max_connections: config.connection_limit(),
        shutdown_timeout: *config.shutdown_timeout,
    };
    thread::scope(|scope| {
        for index in 1..config.thread_count() {
            let (executor, workers_done) = (&executor, &workers_done);
            let spawned = thread::Builder::new()
                .name(format!("smol-toy-worker-{index}"))
                .spawn_scoped(scope, move || {
                    smol::block_on(executor.run(workers_done.triggered()))
                });
            if let Err(error) = spawned {
                workers_done.trigger();
                return Err(error);
            }
        }
        let stopped = smol::block_on(executor.run(serve.accept_until_drained(listener)));
        workers_done.trigger();
        Ok(stopped)
    })
}

struct Server<'a, H> {
    executor: &'a Executor<'static>,
    shared: &'a Arc<Shared<H>>,
    /// One permit per connection that may be open.
    limit: Arc<Semaphore>,
    max_connections: usize,
    shutdown_timeout: Duration,
}

/// What a connection task holds while it runs: its place under the connection cap,
/// and a sender whose drop tells the drain that the connection is gone.
struct ConnectionGuard {
    _permit: SemaphoreGuardArc,
    _open: Sender<()>,
}

impl<H: Handler> Server<'_, H> {
    async fn accept_until_drained(&self, listener: Async<TcpListener>) -> Stopped {
        // Nobody sends on this channel: each connection holds a sender, and `recv`
        // fails once the last one is dropped.
        let (open, drained) = smol::channel::bounded::<()>(1);
        self.accept_loop(&listener, &open).await;
        self.accept_backlog(&listener, &open);
        drop(listener);
        drop(open);
        let still_open = drained.sender_count();
        info!(
            "shutting down: stopped accepting; waiting up to {} for {still_open} open connection(s)",
            humantime::format_duration(self.shutdown_timeout)
        );
        self.wait_for_drain(drained).await
    }

    async fn accept_loop(&self, listener: &Async<TcpListener>, open: &Sender<()>) {
        let shutdown = &self.shared.shutdown;
        let mut warnings = AcceptWarnings::default();
        loop {
            let permit = match self.limit.try_acquire_arc() {
                Some(permit) => permit,
                None => {
                    // At the cap, new connections wait in the listen backlog.
                    warnings.warn(format_args!(
                        "{} connections open, the limit: new ones wait until one closes",
                        self.max_connections
                    ));
                    let permit = async { Some(self.limit.acquire_arc().await) };
                    match permit.or(stopped(shutdown)).await {
                        Some(permit) => permit,
                        None => return,
                    }
                }
            };
            let accepted = async { Some(listener.accept().await) };
            match accepted.or(stopped(shutdown)).await {
                None => return,
                Some(Ok((stream, peer))) => {
                    warnings.recovered();
                    self.spawn_connection(stream, peer, permit, open);
                }
                Some(Err(error)) => {
                    // Out of descriptors (EMFILE, ENFILE) or memory, or a connection
                    // reset before it was accepted: say so, pause, and retry.
                    warnings.warn(format_args!(
                        "accept failed: {error}; retrying every {ACCEPT_BACKOFF:?}"
                    ));
                    drop(permit);
                    let paused = async {
                        Timer::after(ACCEPT_BACKOFF).await;
                        Some(())
                    };
                    if paused.or(stopped(shutdown)).await.is_none() {
                        return;
                    }
                }
            }
        }
    }

    /// Accepts the connections that completed their handshake before the shutdown,
    /// so that closing the listener does not reset them. They are served like any
    /// other: their first request is answered, with `Connection: close`.
    fn accept_backlog(&self, listener: &Async<TcpListener>, open: &Sender<()>) {
        while let Some(permit) = self.limit.try_acquire_arc() {
            match listener.get_ref().accept() {
                Ok((stream, peer)) => match Async::new(stream) {
                    Ok(stream) => self.spawn_connection(stream, peer, permit, open),
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
        open: &Sender<()>,
    ) {
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold small
        // responses back by up to 40 ms.
        if let Err(error) = stream.get_ref().set_nodelay(true) {
            debug!("{peer}: cannot set TCP_NODELAY: {error}");
        }
        let guard = ConnectionGuard {
            _permit: permit,
            _open: open.clone(),
        };
        let shared = Arc::clone(self.shared);
        self.executor
            .spawn(async move {
                let _guard = guard;
                let served = AssertUnwindSafe(connection::serve(stream, peer, shared));
                if let Err(panic) = served.catch_unwind().await {
                    error!(
                        "{peer}: connection task panicked: {}",
                        panic_message(panic.as_ref())
                    );
                }
            })
            .detach();
    }

    async fn wait_for_drain(&self, drained: Receiver<()>) -> Stopped {
        let all_closed = async {
            let _ = drained.recv().await;
            Stopped::Drained
        };
        let timeout = async {
            Timer::after(self.shutdown_timeout).await;
            Stopped::TimedOut {
                open: drained.sender_count(),
            }
        };
        let stopped = all_closed.or(timeout).await;
        match stopped {
            Stopped::Drained => info!("all connections closed"),
            Stopped::TimedOut { open } => {
                error!("shutdown timeout expired; cutting off {open} open connection(s)")
            }
        }
        stopped
    }
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

/// Resolves to `None` once the shutdown starts; raced against the accept loop's waits.
async fn stopped<T>(shutdown: &Shutdown) -> Option<T> {
    shutdown.triggered().await;
    None
}
