//! A QUIC endpoint on a UDP socket: the TLS it serves (TLS 1.3, ALPN `h3`, the
//! HTTPS certificate), the limits of its transport (from the server's), and a
//! receive buffer large enough for a burst of handshakes.

use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use log::{info, warn};
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{
    BloomTokenLog, EndpointConfig, IdleTimeout, ServerConfig, TransportConfig,
    ValidationTokenConfig, VarInt,
};

use super::runtime::OnExecutor;
use crate::shared::Limits;

/// The receive buffer asked for each UDP socket. With Linux's default (208 KiB),
/// 1,000 clients connecting at once lose Initials, and wait a second for each
/// retransmission.
pub const RECEIVE_BUFFER: usize = 4 * 1024 * 1024;
/// Unidirectional streams a client may have open: its control stream and
/// QPACK's two, and one it may send as grease (RFC 9114 §6.2.3).
const UNIDIRECTIONAL_STREAMS: u32 = 4;
/// What a client may send on one stream before the server has read it: a request
/// is a head and a small body.
const STREAM_RECEIVE_WINDOW: u32 = 64 * 1024;
/// What a client may send on one connection before the server has read it.
const CONNECTION_RECEIVE_WINDOW: u32 = 1024 * 1024;

/// The memory the log of address tokens already used may take (quinn's default is
/// 10 MiB): what stops a token from being replayed.
const TOKEN_LOG_BYTES: usize = 1024 * 1024;
/// The token reuses the log is sized for, per token lifetime.
const TOKEN_LOG_EXPECTED: u64 = 100_000;

/// When a new client must show that its address is its own (QUIC Retry) before
/// the server answers its Initial with a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retry {
    /// Every client, unless it brings a token from an earlier connection: the
    /// server never sends an unvalidated address more than 3× what it received
    /// (RFC 9000 §8.1), at one round trip more on a client's first connection.
    #[default]
    Always,
    /// Only past [`RETRY_ABOVE_HANDSHAKES`] handshakes in progress. quinn then
    /// lets an Initial nobody answers draw up to one datagram over 3× (3.19×
    /// measured with a one-certificate chain).
    UnderLoad,
}

/// The endpoint's settings: `tls` (the HTTPS configuration, made for QUIC) and
/// the server's `limits`.
pub fn server_config(
    tls: Arc<rustls::ServerConfig>,
    limits: &Limits,
) -> Result<ServerConfig, String> {
    let crypto = QuicServerConfig::try_from(tls).map_err(|error| format!("QUIC TLS: {error}"))?;
    let mut config = ServerConfig::with_crypto(Arc::new(crypto));
    // Each client gets tokens (NEW_TOKEN) to skip Retry when it comes back.
    let mut tokens = ValidationTokenConfig::default();
    let log = BloomTokenLog::new_expected_items(TOKEN_LOG_BYTES, TOKEN_LOG_EXPECTED);
    tokens.log(Arc::new(log));
    config.validation_token_config(tokens);
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(limits.max_concurrent_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(UNIDIRECTIONAL_STREAMS))
        .max_idle_timeout(IdleTimeout::try_from(limits.keep_alive_timeout).ok())
        .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
        .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// An endpoint serving `config` on `socket`, its tasks run by `runtime`.
pub fn endpoint(
    socket: UdpSocket,
    config: ServerConfig,
    runtime: Arc<OnExecutor>,
) -> io::Result<quinn::Endpoint> {
    enlarge_receive_buffer(&socket);
    quinn::Endpoint::new(EndpointConfig::default(), Some(config), socket, runtime)
}

/// Asks for [`RECEIVE_BUFFER`]; says once if the kernel gives less (it caps what
/// a process may ask at `net.core.rmem_max`).
fn enlarge_receive_buffer(socket: &UdpSocket) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let socket = socket2::SockRef::from(socket);
    // Linux doubles what it is asked for, to count its bookkeeping.
    let granted = (socket.set_recv_buffer_size(RECEIVE_BUFFER))
        .and_then(|()| socket.recv_buffer_size())
        .map(|granted| granted / 2);
    match granted {
        Ok(granted) if granted >= RECEIVE_BUFFER => {
            info!("QUIC: UDP receive buffer {} KiB", granted / 1024);
        }
        Ok(granted) if !WARNED.swap(true, Ordering::Relaxed) => warn!(
            "QUIC: the kernel gave the UDP socket a receive buffer of {} KiB, not the {} KiB \
             asked for: a burst of new connections may lose packets. Raise it with \
             `sysctl -w net.core.rmem_max={RECEIVE_BUFFER}`",
            granted / 1024,
            RECEIVE_BUFFER / 1024
        ),
        Ok(_) => {}
        Err(error) => warn!("QUIC: cannot size the UDP receive buffer: {error}"),
    }
}

/// With [`Retry::UnderLoad`]: past this many handshakes in progress, a client
/// whose address is not validated is asked to prove it (QUIC Retry, RFC 9000 §8.1.2) before the server holds
/// anything for it: a flood of Initials from forged addresses then costs one
/// stateless packet each, and a real client one round trip more.
pub const RETRY_ABOVE_HANDSHAKES: usize = 256;

/// The QUIC handshakes in progress on a server, and when a client must validate
/// its address.
#[derive(Debug, Clone, Default)]
pub struct Handshakes {
    in_progress: Arc<AtomicUsize>,
    retry: Retry,
}

/// One handshake in progress: counted until dropped.
#[derive(Debug)]
pub struct Handshaking(Arc<AtomicUsize>);

impl Handshakes {
    /// No handshake in progress yet, Retry sent as `retry` says.
    pub fn new(retry: Retry) -> Self {
        Handshakes {
            in_progress: Arc::default(),
            retry,
        }
    }

    /// Counts a handshake as in progress until the returned guard is dropped.
    pub fn start(&self) -> Handshaking {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
        Handshaking(Arc::clone(&self.in_progress))
    }

    /// Whether a client that has not validated its address must, now.
    pub fn retry_needed(&self) -> bool {
        match self.retry {
            Retry::Always => true,
            Retry::UnderLoad => self.in_progress.load(Ordering::Relaxed) >= RETRY_ABOVE_HANDSHAKES,
        }
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
