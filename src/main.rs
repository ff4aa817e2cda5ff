//! The smol-toy binary: parse the options, start logging, serve until a signal.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use smol_toy::{
    Config, Listeners, Shutdown, Stopped, Subcommand, TlsAcceptor, Toy, listen, run_with_acceptor,
    signals,
};

/// mimalloc: every request allocates a few dozen small objects (in async-h1 and
/// http-types), often freed on another worker thread than allocated them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = Config::parse();
    if config.command == Some(Subcommand::Healthcheck) {
        return healthcheck(&config);
    }
    if let Err(error) = smol_toy::logging::init(config.log_format) {
        eprintln!("smol-toy: cannot start logging: {error}");
        return ExitCode::FAILURE;
    }

    if config.proxy_protocol && config.trusted_proxies.trusts_no_ip() {
        eprintln!(
            "smol-toy: --proxy-protocol needs --trusted-proxies: the addresses of the \
             balancers whose PROXY headers are believed"
        );
        return ExitCode::from(2);
    }

    // A certificate that cannot be served is a usage error, like a bad option.
    let tls = match config.certificate_files().map(TlsAcceptor::new).transpose() {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("smol-toy: cannot serve HTTPS: {error}");
            return ExitCode::from(2);
        }
    };

    // Signal handlers next, so that a signal sent right after start is not lost.
    let shutdown = Shutdown::new();
    let reload = tls.clone();
    let on_hangup = move || match &reload {
        Some(tls) => tls.reload(),
        None => log::info!("SIGHUP: nothing to reload (no --tls-cert); ignored"),
    };
    if let Err(error) = signals::handle_signals(shutdown.clone(), on_hangup) {
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
        println!("listening on {}", listening.listener.url(tls.is_some()));
    }

    log::info!(
        "serving /toy (delay {}) on {} thread(s), up to {} connections",
        humantime::format_duration(*config.delay),
        config.thread_count(),
        config.connection_limit()
    );
    if config.proxy_protocol {
        log::info!(
            "PROXY protocol: every TCP connection must start with a header, believed from {}",
            config.trusted_proxies
        );
    }
    if !config.trusted_proxies.is_empty() {
        log::info!(
            "access log: X-Forwarded-For and X-Real-IP believed from {}",
            config.trusted_proxies
        );
    }
    let toy = Toy::new(*config.delay);
    let stopped = run_with_acceptor(listening, &config, toy, tls, shutdown);
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

/// `smol-toy healthcheck`: exit 0 if the server answers /healthz with 200, else 1.
fn healthcheck(config: &Config) -> ExitCode {
    match smol_toy::healthcheck::check(config) {
        Ok(status_line) => {
            println!("healthy: {status_line}");
            ExitCode::SUCCESS
        }
        Err(unhealthy) => {
            eprintln!("smol-toy healthcheck: {unhealthy}");
            ExitCode::FAILURE
        }
    }
}
