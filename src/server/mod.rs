//! The server: worker threads running one executor, where the listening sockets
//! come from, the accept loop, what is done with a socket before its first request
//! (the PROXY header, the acceptor, the protocol chosen), systemd notification, and
//! the drain at shutdown. Its files: `docs/architecture.md`.

mod bind;
mod drain;
mod listener;
mod notify;
mod options;
mod protocol;
mod proxy_protocol;
mod setup;

pub use bind::{ListenError, Listeners, SocketFile, bind, bind_udp, listen};
pub use drain::Stopped;
pub use listener::{Listener, Listening};
pub use options::{ListenOptions, Retry, ServerOptions};
#[cfg(any(test, feature = "testing"))]
pub use proxy_protocol::{V1_MAX_LEN, V2_MAX_PAYLOAD};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use async_io::{Async, Timer};
use log::{info, warn};
use smol::Executor;
use smol::future::FutureExt;
use smol::lock::Semaphore;

use crate::exchange::AccessLog;
use crate::handler::{Handler, route_paths};
use crate::metrics::Metrics;
use crate::quic;
use crate::quic::endpoint::Handshakes;
use crate::shared::Shared;
use crate::shutdown::Shutdown;
use crate::transport::{Acceptor, PlainHttp};
use drain::OpenConnections;
use listener::AcceptLoop;
use proxy_protocol::ProxyProtocol;
use setup::ConnectionSetup;

/// Serves `listeners` with `handler` on `options.threads` threads until
/// `shutdown` is triggered, the shutdown delay has passed and the open connections
/// have drained (or the shutdown timeout expired). Blocks the calling thread, which
/// is one of the workers.
pub fn run<H: Handler>(
    listeners: Vec<Listening>,
    options: &ServerOptions,
    handler: H,
    shutdown: Shutdown,
) -> io::Result<Stopped> {
    run_with_acceptor(listeners, options, handler, PlainHttp, shutdown)
}

/// [`run`], with each connection served over the stream `acceptor` makes of its
/// socket.
pub fn run_with_acceptor<H: Handler, A: Acceptor>(
    listeners: Vec<Listening>,
    options: &ServerOptions,
    handler: H,
    mut acceptor: A,
    shutdown: Shutdown,
) -> io::Result<Stopped> {
    acceptor.offer_alpn(protocol::alpn_offer(options.http2));
    let status = serving_status(&listeners, options, acceptor.https());
    let (datagrams, listeners): (Vec<_>, Vec<_>) =
        (listeners.into_iter()).partition(|l| matches!(l.listener, Listener::Udp(_)));
    let listeners = (listeners.into_iter())
        .map(|l| Ok((Async::new(l.listener)?, l.inherited)))
        .collect::<io::Result<Vec<_>>>()?;
    let executor = Arc::new(Executor::new());
    let endpoints = quic_endpoints(datagrams, options, &acceptor, &executor)?;
    let setup = ConnectionSetup {
        proxy_protocol: (options.proxy_protocol)
            .then(|| ProxyProtocol::new(options.trusted_proxies.clone())),
        acceptor,
        http2: options.http2,
    };
    let alt_svc = (endpoints.first())
        .and_then(|e| e.local_addr().ok())
        .map(|a| a.port());
    let shared = Arc::new(shared(options, handler, &setup, shutdown).with_alt_svc(alt_svc));
    let accept_loop = AcceptLoop {
        executor: &executor,
        shared: &shared,
        setup: Arc::new(setup),
        permits: Arc::new(Semaphore::new(options.connection_limit)),
        connection_limit: options.connection_limit,
        open: OpenConnections::new(),
        handshakes: Handshakes::new(options.quic_retry),
    };
    spawn_server_tasks(&executor, &shared, options.shutdown_delay);
    notify::ready(&status);
    let serve = async move {
        let accepting =
            (listeners.iter()).map(|(l, _)| accept_loop.accept_until_shutdown(l).boxed());
        let accepting_quic =
            (endpoints.iter()).map(|e| accept_loop.accept_quic_until_shutdown(e).boxed());
        join_all(accepting.chain(accepting_quic)).await;
        // The backlog of a socket systemd holds belongs to the next process.
        for (listener, _) in listeners.iter().filter(|(_, inherited)| !inherited) {
            accept_loop.accept_backlog(listener);
        }
        drop(listeners);
        let stopped = accept_loop.open.drain(options.shutdown_timeout).await;
        quic_closed(&endpoints).await;
        stopped
    };
    run_workers(&executor, options.threads, serve)
}

/// How long the exit waits for QUIC connections to finish closing.
const QUIC_CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Waits, up to [`QUIC_CLOSE_WAIT`], until the last QUIC connections' closes have
/// gone out, so that the sockets do not close before them.
async fn quic_closed(endpoints: &[quinn::Endpoint]) {
    let closed = join_all(endpoints.iter().map(|endpoint| endpoint.wait_idle()));
    closed
        .or(async {
            Timer::after(QUIC_CLOSE_WAIT).await;
        })
        .await;
}

/// A QUIC endpoint for each UDP socket, when HTTP/3 is served: `options.http3`,
/// and an acceptor that serves HTTPS.
fn quic_endpoints<A: Acceptor>(
    datagrams: Vec<Listening>,
    options: &ServerOptions,
    acceptor: &A,
    executor: &Arc<Executor<'static>>,
) -> io::Result<Vec<quinn::Endpoint>> {
    let tls = acceptor.http3_tls().filter(|_| options.http3);
    let Some(tls) = tls.filter(|_| !datagrams.is_empty()) else {
        if !datagrams.is_empty() {
            warn!("HTTP/3 is off (no --tls-cert, or --http3 off): the UDP sockets are not served");
        }
        return Ok(Vec::new());
    };
    let config = quic::endpoint::server_config(tls, &options.limits).map_err(io::Error::other)?;
    let runtime = Arc::new(quic::runtime::OnExecutor {
        executor: Arc::clone(executor),
    });
    let sockets = datagrams.into_iter().filter_map(|l| match l.listener {
        Listener::Udp(socket) => Some(socket),
        _ => None,
    });
    sockets
        .map(|socket| quic::endpoint::endpoint(socket, config.clone(), Arc::clone(&runtime)))
        .collect()
}

/// What the connections of a server run with `options` and `setup` share.
fn shared<H: Handler, A: Acceptor>(
    options: &ServerOptions,
    handler: H,
    setup: &ConnectionSetup<A>,
    shutdown: Shutdown,
) -> Shared<H> {
    let mut metrics = Metrics::new(
        &route_paths::<H>(),
        options.connection_limit,
        options.threads,
    );
    setup.register_metrics(&mut metrics);
    let access_log = AccessLog::if_enabled(options.trusted_proxies.clone());
    Shared::new(
        handler,
        options.limits.clone(),
        metrics,
        access_log,
        shutdown,
    )
    .with_hsts(options.hsts_max_age)
}

/// The status systemd shows while the server runs.
fn serving_status(listeners: &[Listening], options: &ServerOptions, https: bool) -> String {
    let addresses: Vec<String> = listeners.iter().map(|l| l.listener.url(https)).collect();
    format!(
        "serving on {}, {} thread(s), up to {} connections",
        addresses.join(", "),
        options.threads,
        options.connection_limit
    )
}

/// The tasks beside the connections: the timing wheels' sweepers, the shutdown
/// delay, and the systemd watchdog.
fn spawn_server_tasks<H: Handler>(
    executor: &Executor<'static>,
    shared: &Arc<Shared<H>>,
    shutdown_delay: Duration,
) {
    let sweeper = Arc::clone(shared);
    executor
        .spawn(async move { sweeper.sweep_wheels().await })
        .detach();
    executor
        .spawn(stop_accepting_after_delay(
            Arc::clone(shared),
            shutdown_delay,
        ))
        .detach();
    if let Some(interval) = notify::watchdog_interval() {
        executor.spawn(notify::keep_watchdog_fed(interval)).detach();
    }
}

/// Runs `main` on the calling thread and the executor on `threads` − 1 more, until
/// `main` is done.
fn run_workers<T>(
    executor: &Executor<'static>,
    threads: usize,
    main: impl Future<Output = T>,
) -> io::Result<T> {
    // The workers run until `main_done` closes; it never carries a message.
    let (main_done, workers_stop) = smol::channel::bounded::<()>(1);
    thread::scope(|scope| {
        for index in 1..threads {
            let workers_stop = workers_stop.clone();
            let spawned = thread::Builder::new()
                .name(format!("smol-toy-worker-{index}"))
                .spawn_scoped(scope, move || {
                    smol::block_on(executor.run(async { workers_stop.recv().await.ok() }))
                });
            if let Err(error) = spawned {
                main_done.close();
                return Err(error);
            }
        }
        let done = smol::block_on(executor.run(main));
        main_done.close();
        Ok(done)
    })
}

/// Runs every future to its end, concurrently.
async fn join_all<F: Future<Output = ()>>(futures: impl IntoIterator<Item = F>) {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        futures.retain_mut(|future| future.as_mut().poll(cx).is_pending());
        if futures.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Once a shutdown is asked for, keeps the server accepting for `delay` (so that a
/// load balancer that has seen `/readyz` fail moves clients elsewhere first), then
/// stops it accepting.
async fn stop_accepting_after_delay<H>(shared: Arc<Shared<H>>, delay: Duration) {
    shared.rules.shutdown_requested.triggered().await;
    if !delay.is_zero() {
        let shown = humantime::format_duration(delay);
        notify::stopping(&format!(
            "shutting down: still serving for {shown}, then draining"
        ));
        info!(
            "shutdown delay: /readyz fails, every response says Connection: close; \
             still accepting for {shown}"
        );
        Timer::after(delay).await;
        info!("shutdown delay over");
    }
    notify::stopping("shutting down: draining open connections");
    shared.rules.accepting_stopped.trigger();
}
