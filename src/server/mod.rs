//! The server: worker threads running one executor, the listener (`listener`), and
//! the drain at shutdown (`drain`).

mod drain;
mod listener;
mod notify;

pub use drain::Stopped;
pub use listener::bind;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use async_io::{Async, Timer};
use log::info;
use smol::Executor;
use smol::lock::Semaphore;

use crate::config::Config;
use crate::connection::{AccessLog, Shared};
use crate::handler::{Handler, route_paths};
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use drain::OpenConnections;
use listener::Acceptor;

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
        limits: config.limits(),
        shutdown,
        stopping: Shutdown::new(),
        metrics: Metrics::new(
            &route_paths::<H>(),
            config.connection_limit(),
            config.thread_count(),
        ),
        access_log: AccessLog::if_enabled(config.trusted_proxies.clone()),
    });
    let executor = Executor::new();
    let acceptor = Acceptor {
        executor: &executor,
        shared: &shared,
        permits: Arc::new(Semaphore::new(config.connection_limit())),
        connection_limit: config.connection_limit(),
        open: OpenConnections::new(),
    };
    let delay = *config.shutdown_delay;
    executor
        .spawn(stop_accepting_after_delay(Arc::clone(&shared), delay))
        .detach();
    if let Some(interval) = notify::watchdog_interval() {
        executor.spawn(notify::keep_watchdog_fed(interval)).detach();
    }
    notify::ready(&format!(
        "serving on {}, {} thread(s), up to {} connections",
        describe(&listener),
        config.thread_count(),
        config.connection_limit()
    ));
    let serve = async move {
        acceptor.accept_until_shutdown(&listener).await;
        acceptor.accept_backlog(&listener);
        drop(listener);
        acceptor.open.drain(*config.shutdown_timeout).await
    };
    let workers_done = Shutdown::new();
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
        let stopped = smol::block_on(executor.run(serve));
        workers_done.trigger();
        Ok(stopped)
    })
}

/// Once a shutdown is asked for, keeps the server accepting for `delay` (so that a
/// load balancer that has seen `/readyz` fail moves clients elsewhere first), then
/// stops it accepting.
async fn stop_accepting_after_delay<H>(shared: Arc<Shared<H>>, delay: Duration) {
    shared.shutdown.triggered().await;
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
    shared.stopping.trigger();
}

/// The listening address, for the status line.
fn describe(listener: &Async<TcpListener>) -> String {
    match listener.get_ref().local_addr() {
        Ok(addr) => addr.to_string(),
        Err(_) => "a socket".to_owned(),
    }
}
