//! Configuration: every option has a flag, an environment variable and a default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::exchange::TrustedProxies;
use crate::server::{ListenOptions, Retry, ServerOptions};
use crate::shared::Limits;
use crate::tls::CertificateFiles;
use values::{head_size, octal_mode, positive_duration, quic_retry, timer_slack};

mod values;

/// The port the original Flask app listened on.
pub const DEFAULT_PORT: u16 = 4567;
/// How long `GET /toy` waits before it answers.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(1);
/// How long in-flight requests get to finish once shutdown starts.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request head may take to arrive once its first byte has (and an unread
/// body once its head has).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may sit idle between requests.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How late `/toy`'s wait may end, so that the waits ending together share a wake-up.
pub const DEFAULT_TIMER_SLACK: Duration = Duration::from_millis(10);
/// How long writing one response may take.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (request line and header fields) accepted.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 8 * 1024;
/// The `max-age` of `Strict-Transport-Security` over HTTPS: one year.
pub const DEFAULT_HSTS_MAX_AGE: u64 = 365 * 24 * 60 * 60;
/// The listen backlog asked of the kernel (which caps it at net.core.somaxconn).
pub const DEFAULT_BACKLOG: u32 = 4096;
/// The most streams open at once on one HTTP/2 connection: nginx's default; a
/// browser opens up to 100.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;
/// Descriptors kept free for the process itself when the connection cap is derived
/// from the open-file limit.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// smol-toy: `GET /toy` waits one second and answers {"result":1}.
///
/// One small binary: a smol executor on a thread pool, async-h1 parsing HTTP/1.x.
/// Waiting requests hold no thread. Logs go to stderr; set the level with RUST_LOG
/// (e.g. RUST_LOG=warn hides the access lines).
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, global = true, env = "SMOL_TOY_HOST", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub host: IpAddr,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, short, global = true, env = "SMOL_TOY_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Worker threads that run the executor [default: the number of CPUs].
    #[arg(long, env = "SMOL_TOY_THREADS")]
    pub threads: Option<NonZeroUsize>,

    /// How long /toy waits before answering, e.g. 1s, 250ms, 0.
    #[arg(long, env = "SMOL_TOY_DELAY", default_value_t = DEFAULT_DELAY.into())]
    pub delay: humantime::Duration,

    /// How late /toy's wait may end, at most 100ms: the waits that end within the
    /// same slack are woken together, one wake-up of the server for all of them.
    /// 0 gives every wait its own exact timer, at the cost of two wake-ups each.
    #[arg(long, env = "SMOL_TOY_TIMER_SLACK", default_value_t = DEFAULT_TIMER_SLACK.into(),
          value_parser = timer_slack)]
    pub timer_slack: humantime::Duration,

    /// How long to keep accepting and serving after SIGINT or SIGTERM, with /readyz
    /// failing and every response saying `Connection: close`, before the drain starts.
    #[arg(long, env = "SMOL_TOY_SHUTDOWN_DELAY", default_value_t = Duration::ZERO.into())]
    pub shutdown_delay: humantime::Duration,

    /// How long in-flight requests may take to finish once the server stops accepting.
    #[arg(long, env = "SMOL_TOY_SHUTDOWN_TIMEOUT", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT.into())]
    pub shutdown_timeout: humantime::Duration,

    /// How long a request head may take to arrive once its first byte has, and an
    /// unread request body once its head has (slowloris and slow-body guard).
    #[arg(long, env = "SMOL_TOY_HEADER_TIMEOUT", default_value_t = DEFAULT_HEADER_TIMEOUT.into(),
          value_parser = positive_duration)]
    pub header_timeout: humantime::Duration,

    /// How long a connection may sit idle between requests.
    #[arg(long, env = "SMOL_TOY_KEEP_ALIVE_TIMEOUT", default_value_t = DEFAULT_KEEP_ALIVE_TIMEOUT.into(),
          value_parser = positive_duration)]
    pub keep_alive_timeout: humantime::Duration,

    /// How long writing one response may take before the connection is dropped.
    #[arg(long, env = "SMOL_TOY_WRITE_TIMEOUT", default_value_t = DEFAULT_WRITE_TIMEOUT.into(),
          value_parser = positive_duration)]
    pub write_timeout: humantime::Duration,

    /// Largest request head in bytes (request line plus header fields); larger gets 431.
    #[arg(long, env = "SMOL_TOY_MAX_HEAD_SIZE", default_value_t = DEFAULT_MAX_HEAD_SIZE,
          value_parser = head_size)]
    pub max_head_size: usize,

    /// Speak HTTP/2 besides HTTP/1.x: over HTTPS when the client's ALPN offers h2,
    /// and in cleartext when a connection starts with the HTTP/2 preface (prior
    /// knowledge), on every listener. `off` serves HTTP/1.x only.
    #[arg(long, env = "SMOL_TOY_HTTP2", default_value = "on", value_name = "on|off",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub http2: bool,

    /// Serve HTTP/3 over QUIC, on a UDP socket beside each HTTPS listener (same
    /// address and port), and say so in `Alt-Svc`. On by default with --tls-cert;
    /// off by default with --proxy-protocol, whose balancer forwards TCP only.
    #[arg(long, env = "SMOL_TOY_HTTP3", value_name = "on|off",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub http3: Option<bool>,

    /// When a new HTTP/3 client must first show that its address is its own (QUIC
    /// Retry): `always` (unless it brings a token from an earlier connection),
    /// so that a forged address draws at most 3× what it sent; or `under-load`,
    /// past 256 handshakes in progress, a round trip quicker for a client's first
    /// connection.
    #[arg(long, env = "SMOL_TOY_QUIC_RETRY", default_value = "always", value_parser = quic_retry)]
    pub quic_retry: Retry,

    /// Most streams an HTTP/2 client may have open at once on one connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused.
    #[arg(long, env = "SMOL_TOY_MAX_CONCURRENT_STREAMS", default_value_t = DEFAULT_MAX_CONCURRENT_STREAMS,
          value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    pub max_concurrent_streams: u32,

    /// Most connections open at once; more wait in the listen backlog
    /// [default: the open-file limit less 64].
    #[arg(long, env = "SMOL_TOY_MAX_CONNECTIONS")]
    pub max_connections: Option<NonZeroUsize>,

    /// Length of the listen backlog (the kernel caps it at net.core.somaxconn).
    #[arg(long, env = "SMOL_TOY_BACKLOG", default_value_t = DEFAULT_BACKLOG,
          value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    pub backlog: u32,

    /// Serve HTTPS with this certificate chain (PEM, leaf first), with --tls-key:
    /// every TCP listener then speaks HTTPS only, sockets from systemd included; a
    /// Unix socket stays plain HTTP. Read again on SIGHUP.
    #[arg(
        long,
        global = true,
        env = "SMOL_TOY_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(
        long,
        global = true,
        env = "SMOL_TOY_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// The max-age, in seconds, of the Strict-Transport-Security field on every
    /// HTTPS response; 0 sends none.
    #[arg(long, env = "SMOL_TOY_HSTS_MAX_AGE", value_name = "SECONDS",
          default_value_t = DEFAULT_HSTS_MAX_AGE)]
    pub hsts_max_age: u64,

    /// Listen on this Unix domain socket instead of --host and --port.
    #[arg(long, global = true, env = "SMOL_TOY_UNIX_SOCKET")]
    pub unix_socket: Option<PathBuf>,

    /// Permissions of the --unix-socket file, in octal.
    #[arg(long, env = "SMOL_TOY_UNIX_SOCKET_MODE", default_value = "660", value_parser = octal_mode)]
    pub unix_socket_mode: u32,

    /// Log format: `text` lines, or one JSON object per line.
    #[arg(long, env = "SMOL_TOY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Proxies whose X-Forwarded-For and X-Real-IP name the client in the access log,
    /// and whose PROXY protocol headers are believed: comma-separated addresses and
    /// CIDR networks, e.g. 127.0.0.1,10.0.0.0/8.
    #[arg(long, global = true, env = "SMOL_TOY_TRUSTED_PROXIES",
          default_value_t = TrustedProxies::default(), hide_default_value = true)]
    pub trusted_proxies: TrustedProxies,

    /// Expect every TCP connection to start with a PROXY protocol header (v1 or v2),
    /// sent by a peer in --trusted-proxies, and take the client's address from it.
    /// Connections without one, or from other peers, are closed unserved. For
    /// HAProxy `send-proxy-v2`, AWS NLB, nginx `proxy_protocol on`.
    #[arg(long, global = true, env = "SMOL_TOY_PROXY_PROTOCOL",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub proxy_protocol: bool,

    /// What to run instead of the server.
    #[command(subcommand)]
    pub command: Option<Subcommand>,
}

/// What the binary runs instead of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Subcommand {
    /// Ask the server these options describe for GET /healthz and exit 0 on a 200,
    /// else 1 with one line saying why, within 2 s: for container health checks.
    /// 0.0.0.0 and :: mean loopback; with --tls-cert it speaks HTTPS and trusts
    /// exactly that certificate.
    Healthcheck,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `[TIME LEVEL TARGET] MESSAGE`.
    Text,
    /// One JSON object per line.
    Json,
}

/// The configuration of a server started with no options, whatever the environment
/// says: the defaults of the command line, written once, in the attributes above.
impl Default for Config {
    fn default() -> Self {
        let command = Config::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["smol-toy"]);
        Config::from_arg_matches(&matches).expect("the defaults parse")
    }
}

impl Config {
    /// The address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The number of executor threads: the configured one, else one per CPU.
    pub fn thread_count(&self) -> usize {
        self.threads
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get)
    }

    /// The limits and timeouts every connection observes.
    pub fn limits(&self) -> Limits {
        Limits {
            header_timeout: *self.header_timeout,
            keep_alive_timeout: *self.keep_alive_timeout,
            write_timeout: *self.write_timeout,
            max_head_size: self.max_head_size,
            max_concurrent_streams: self.max_concurrent_streams,
            timer_slack: *self.timer_slack,
        }
    }

    /// Where the certificate and key come from, when HTTPS is on.
    pub fn certificate_files(&self) -> Option<CertificateFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }

    /// What the server runs with.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            threads: self.thread_count(),
            connection_limit: self.connection_limit(),
            limits: self.limits(),
            trusted_proxies: self.trusted_proxies.clone(),
            proxy_protocol: self.proxy_protocol,
            http2: self.http2,
            http3: self.http3.unwrap_or(!self.proxy_protocol),
            quic_retry: self.quic_retry,
            hsts_max_age: self.hsts_max_age,
            shutdown_delay: *self.shutdown_delay,
            shutdown_timeout: *self.shutdown_timeout,
        }
    }

    /// Where the server listens, when systemd passes no sockets.
    pub fn listen_options(&self) -> ListenOptions {
        ListenOptions {
            addr: self.listen_addr(),
            unix_socket: self.unix_socket.clone(),
            unix_socket_mode: self.unix_socket_mode,
            backlog: self.backlog,
            quic: self.http3_served(),
        }
    }

    /// Whether HTTP/3 is served: with HTTPS, unless `--http3 off`, or
    /// `--proxy-protocol` without `--http3 on`.
    pub fn http3_served(&self) -> bool {
        self.certificate_files().is_some() && self.http3.unwrap_or(!self.proxy_protocol)
    }

    /// The connection cap: the configured one, else what the open-file limit allows.
    pub fn connection_limit(&self) -> usize {
        match self.max_connections {
            Some(n) => n.get(),
            None => descriptor_budget(),
        }
    }
}

/// The soft open-file limit less a reserve for the listener, the reactor and stdio.
fn descriptor_budget() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let budget = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    usize::try_from(budget).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn the_default_is_the_command_line_without_arguments() {
        let default = Config::default();
        assert_eq!(default.port, DEFAULT_PORT);
        assert_eq!(default.unix_socket_mode, 0o660);
        assert_eq!(*default.header_timeout, DEFAULT_HEADER_TIMEOUT);
        assert_eq!(default.log_format, LogFormat::Text);
    }

    #[test]
    fn durations_accept_units_and_zero() {
        let config = Config::try_parse_from(["smol-toy", "--delay", "250ms"]).unwrap();
        assert_eq!(*config.delay, Duration::from_millis(250));
        let config = Config::try_parse_from(["smol-toy", "--delay", "0"]).unwrap();
        assert_eq!(*config.delay, Duration::ZERO);
        assert!(Config::try_parse_from(["smol-toy", "--delay", "soon"]).is_err());
        assert_eq!(*Config::default().timer_slack, Duration::from_millis(10));
        let config = Config::try_parse_from(["smol-toy", "--timer-slack", "0"]).unwrap();
        assert_eq!(*config.timer_slack, Duration::ZERO);
        assert!(Config::try_parse_from(["smol-toy", "--timer-slack", "101ms"]).is_err());
        assert!(Config::try_parse_from(["smol-toy", "--header-timeout", "0"]).is_err());
    }

    #[test]
    fn a_certificate_needs_its_key_and_a_key_its_certificate() {
        for half in [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]] {
            let error = Config::try_parse_from(["smol-toy", half[0], half[1]]).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::MissingRequiredArgument
            );
            assert_eq!(error.exit_code(), 2);
        }
        let both = ["smol-toy", "--tls-cert", "c.pem", "--tls-key", "k.pem"];
        let files = Config::try_parse_from(both).unwrap().certificate_files();
        assert_eq!(files.unwrap().key, PathBuf::from("k.pem"));
        assert_eq!(Config::default().certificate_files(), None);
        assert_eq!(Config::default().hsts_max_age, 31_536_000);
    }
}
