//! The server: worker threads running one executor, where the listening sockets
//! come from (`bind`), the accept loop (`listener`), systemd notification
//! (`notify`), and the drain at shutdown (`drain`).

mod bind;
mod drain;
mod listener;
mod notify;

pub use bind::{ListenError, Listeners, SocketFile, bind, bind_unix, listen};
pub use drain::Stopped;
pub use listener::{Listener, Listening};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
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

/// Serves `listeners` with `handler` on `config.thread_count()` threads until
/// `shutdown` is triggered, the shutdown delay has passed and the open connections
/// have drained (or the shutdown timeout expired). Blocks the calling thread, which
/// is one of the workers.
pub fn run<H: Handler>(
    listeners: Vec<Listening>,
    config: &Config,
    handler: H,
    shutdown: Shutdown,
) -> io::Result<Stopped> {
    let status = format!(
        "serving on {}, {} thread(s), up to {} connections",
        (listeners.iter().map(|l| l.listener.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        config.thread_count(),
        config.connection_limit()
    );
    let listeners = (listeners.into_iter())
        .map(|l| Ok((Async::new(l.listener)?, l.inherited)))
        .collect::<io::Result<Vec<_>>>()?;
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
        deadlines: config.limits().deadlines(),
    });
    let executor = Executor::new();
    let acceptor = Acceptor {
        executor: &executor,
        shared: &shared,
        permits: Arc::new(Semaphore::new(config.connection_limit())),
        connection_limit: config.connection_limit(),
        open: OpenConnections::new(),
    };
    let sweeper = Arc::clone(&shared);
    executor
        .spawn(async move { sweeper.deadlines.sweep().await })
        .detach();
    let delay = *config.shutdown_delay;
    executor
        .spawn(stop_accepting_after_delay(Arc::clone(&shared), delay))
        .detach();
    if let Some(interval) = notify::watchdog_interval() {
        executor.spawn(notify::keep_watchdog_fed(interval)).detach();
    }
    notify::ready(&status);
    let serve = async move {
        join_all(
            listeners
                .iter()
                .map(|(l, _)| acceptor.accept_until_shutdown(l)),
        )
        .await;
        // The backlog of a socket systemd holds belongs to the next process.
        for (listener, _) in listeners.iter().filter(|(_, inherited)| !inherited) {
            acceptor.accept_backlog(listener);
        }
        drop(listeners);
        acceptor.open.drain(*config.shutdown_timeout).await
    };
    run_workers(&executor, config.thread_count(), serve)
}

/// Runs `main` on the calling thread and the executor on `threads` − 1 more, until
/// `main` is done.
fn run_workers<T>(
    executor: &Executor<'static>,
    threads: usize,
    main: impl Future<Output = T>,
) -> io::Result<T> {
    let workers_done = Shutdown::new();
    thread::scope(|scope| {
        for index in 1..threads {
            let workers_done = &workers_done;
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
        let done = smol::block_on(executor.run(main));
        workers_done.trigger();
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
