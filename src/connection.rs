//! What every connection has, whatever its protocol: the reason it ended, decided
//! by the protocol's state (or by the setup before it) and counted in the metrics.

/// Why a connection ended: the `reason` label of `smol_toy_connections_closed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed it, or asked for it to be closed after a response.
    ClientClosed,
    /// It sat idle between requests longer than the keep-alive timeout.
    IdleTimeout,
    /// A request head (or an unread body) took longer than the header timeout.
    HeaderTimeout,
    /// Writing a response took longer than the write timeout.
    WriteTimeout,
    /// A request could not be read or served, or the connection failed.
    Error,
    /// The server was shutting down.
    Shutdown,
}

impl CloseReason {
    /// Every reason, in the order of their counters.
    pub const ALL: [CloseReason; 6] = [
        CloseReason::ClientClosed,
        CloseReason::IdleTimeout,
        CloseReason::HeaderTimeout,
        CloseReason::WriteTimeout,
        CloseReason::Error,
        CloseReason::Shutdown,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::Error => "error",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// The protocol a connection speaks: the `protocol` label of
/// `smol_toy_http_requests_by_protocol_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2, over TLS (ALPN `h2`) or in cleartext by prior knowledge.
    Http2,
    /// HTTP/3, over QUIC (ALPN `h3`).
    Http3,
}

impl Protocol {
    /// Every protocol, in the order of their counters.
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Http2, Protocol::Http3];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Http3 => "http3",
        }
    }
}
