//! The smol-toy binary: parse the options, start logging, serve until a signal.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use smol_toy::config::LogFormat;
use smol_toy::{
    Config, Listeners, Shutdown, Stopped, Subcommand, TlsAcceptor, Toy, listen, run_with_acceptor,
    signals,
};

/// mimalloc: every request allocates a few dozen small objects (in async-h1 and
/// http-types), often freed on another worker thread than allocated them.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = Config::parse();
    if config.command == Some(Subcommand::Healthcheck) {
        return healthcheck(&config);
    }
    if let Err(error) = smol_toy::logging::init(config.log_format == LogFormat::Json) {
        eprintln!("smol-toy: cannot start logging: {error}");
        return ExitCode::FAILURE;
    }
    let code = serve(&config).unwrap_or_else(|code| code);
    // Log lines still waiting go out (within a second) before the exit.
    smol_toy::logging::flush();
    code
}

/// Serves until a signal and the drain; the exit code, or the one for what stopped
/// the server from starting.
fn serve(config: &Config) -> Result<ExitCode, ExitCode> {
    let tls = https(config)?;
    // Signal handlers next, so that a signal sent right after start is not lost.
    let shutdown = Shutdown::new();
    let reload = tls.clone();
    let on_hangup = move || match &reload {
        Some(tls) => tls.reload(),
        None => log::info!("SIGHUP: nothing to reload (no --tls-cert); ignored"),
    };
    if let Err(error) = signals::handle_signals(shutdown.clone(), on_hangup) {
        eprintln!("smol-toy: cannot install signal handlers: {error}");
        return Err(ExitCode::FAILURE);
    }
    let Listeners {
        listening,
        socket_file,
    } = listen(&config.listen_options()).map_err(|error| {
        eprintln!("smol-toy: {error}");
        ExitCode::FAILURE
    })?;
    // A reader that has what it wanted and closed stdout (a script reading the
    // first line) is no reason to stop.
    let mut stdout = std::io::stdout().lock();
    for listening in &listening {
        let url = listening.listener.url(tls.is_some());
        let _ = writeln!(stdout, "listening on {url}");
    }
    let _ = stdout.flush();
    drop(stdout);
    log_start(config);
    let toy = Toy::new(*config.delay);
    let stopped = run_with_acceptor(listening, &config.server_options(), toy, tls, shutdown);
    // The Unix socket file goes before the exit.
    drop(socket_file);
    match stopped {
        Ok(Stopped::Drained) => Ok(ExitCode::SUCCESS),
        Ok(Stopped::TimedOut { .. }) => Ok(ExitCode::FAILURE),
        Err(error) => {
            eprintln!("smol-toy: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The TLS acceptor, with `--tls-cert`; a certificate that cannot be served, or
/// `--proxy-protocol` without proxies to believe, is a usage error (exit 2).
fn https(config: &Config) -> Result<Option<TlsAcceptor>, ExitCode> {
    if config.http3 == Some(true) && config.certificate_files().is_none() {
        eprintln!("smol-toy: --http3 on needs --tls-cert and --tls-key: QUIC is always TLS");
        return Err(ExitCode::from(2));
    }
    if config.proxy_protocol && config.trusted_proxies.trusts_no_ip() {
        eprintln!(
            "smol-toy: --proxy-protocol needs --trusted-proxies: the addresses of the \
             balancers whose PROXY headers are believed"
        );
        return Err(ExitCode::from(2));
    }
    config
        .certificate_files()
        .map(TlsAcceptor::new)
        .transpose()
        .map_err(|error| {
            eprintln!("smol-toy: cannot serve HTTPS: {error}");
            ExitCode::from(2)
        })
}

/// What the server serves, and whom it believes.
fn log_start(config: &Config) {
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
