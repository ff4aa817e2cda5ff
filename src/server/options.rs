//! What the server runs with, built from the command line's options by
//! `Config::server_options` and `Config::listen_options`; the server never reads
//! the command line itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::exchange::TrustedProxies;
pub use crate::quic::endpoint::Retry;
use crate::shared::Limits;

/// How the server serves.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Executor threads.
    pub threads: usize,
    /// Most connections open at once; more wait in the listen backlog.
    pub connection_limit: usize,
    /// The limits and timeouts every connection observes.
    pub limits: Limits,
    /// The proxies whose `X-Forwarded-For`, `X-Real-IP` and PROXY headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// Every TCP connection starts with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// HTTP/2 is spoken besides HTTP/1.x: by ALPN over TLS, by prior knowledge in
    /// cleartext.
    pub http2: bool,
    /// HTTP/3 is served over QUIC on the UDP sockets among the listeners, if the
    /// acceptor serves HTTPS.
    pub http3: bool,
    /// When a new QUIC client must validate its address first.
    pub quic_retry: Retry,
    /// The `max-age` of `Strict-Transport-Security` over HTTPS; 0 for none.
    pub hsts_max_age: u64,
    /// How long to keep accepting after a shutdown is asked for.
    pub shutdown_delay: Duration,
    /// How long in-flight requests may take to finish once accepting has stopped.
    pub shutdown_timeout: Duration,
}

/// Where the server listens, when systemd passes no sockets.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// The TCP address, unless `unix_socket` is set.
    pub addr: SocketAddr,
    /// A Unix socket to create and listen on instead.
    pub unix_socket: Option<PathBuf>,
    /// The Unix socket file's mode.
    pub unix_socket_mode: u32,
    /// The listen backlog.
    pub backlog: u32,
    /// A UDP socket beside the TCP listener, on its address and port, for HTTP/3.
    pub quic: bool,
}
