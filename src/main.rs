//! The smol-toy binary: parse the options, start logging, serve until a signal.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use smol_toy::{Config, Listeners, Shutdown, Stopped, Toy, listen, run, signals};

/// mimalloc: every request allocates a few dozen small objects (in async-h1 and
/// http-types), often freed on another worker thread than allocated them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(error) = smol_toy::logging::init(config.log_format) {
        eprintln!("smol-toy: cannot start logging: {error}");
        return ExitCode::FAILURE;
    }

    // Signal handlers first, so that a signal sent right after start is not lost.
    let shutdown = Shutdown::new();
    if let Err(error) = signals::handle_signals(shutdown.clone()) {
        eprintln!("smol-toy: cannot install signal handlers: {error}");
        return ExitCode::FAILURE;
    }

    let Listeners {
        listening,
        socket_file,
    } = match listen(&config) {
        Ok(listeners) => listeners,
        Err(error) => {
            eprintln!("smol-toy: {error}");
            return ExitCode::FAILURE;
        }
    };
    for listening in &listening {
        println!("listening on {}", listening.listener);
    }

    log::info!(
        "serving /toy (delay {}) on {} thread(s), up to {} connections",
        humantime::format_duration(*config.delay),
        config.thread_count(),
        config.connection_limit()
    );
    if !config.trusted_proxies.is_empty() {
        log::info!(
            "access log: X-Forwarded-For and X-Real-IP believed from {}",
            config.trusted_proxies
        );
    }
    let stopped = run(listening, &config, Toy::new(*config.delay), shutdown);
    // The Unix socket file goes, and log lines still in the batch go out, before the exit.
    drop(socket_file);
    smol_toy::logging::flush();
    match stopped {
        Ok(Stopped::Drained) => ExitCode::SUCCESS,
        Ok(Stopped::TimedOut { .. }) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("smol-toy: {error}");
            ExitCode::FAILURE
        }
    }
}
