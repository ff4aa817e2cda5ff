//! What HTTP/2 counts: its connections and streams, the GOAWAY frames the server
//! sent by error code, and the connections ended for abusing the protocol, by kind.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Why an HTTP/2 connection was ended for abusing the protocol: the `kind` label of
/// `smol_toy_http2_floods_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// Streams opened and reset by the client faster than they are answered
    /// (CVE-2023-44487).
    RapidReset,
    /// A header block that does not end: CONTINUATION frames without END_HEADERS
    /// (CVE-2024-27316 and its family).
    Continuation,
    /// Header blocks that decode to more than the header list size allows.
    HpackBomb,
    /// SETTINGS frames beyond what a client needs.
    Settings,
    /// PING frames beyond what a client needs.
    Ping,
    /// Other frames that ask for work and carry none (PRIORITY, WINDOW_UPDATE,
    /// empty DATA).
    Control,
    /// Streams opened beyond `SETTINGS_MAX_CONCURRENT_STREAMS`.
    TooManyStreams,
    /// A flow-control window left shut (zero) for longer than the write timeout:
    /// a slow read.
    ZeroWindow,
}

impl Flood {
    /// Every kind, in the order of their counters.
    pub const ALL: [Flood; 8] = [
        Flood::RapidReset,
        Flood::Continuation,
        Flood::HpackBomb,
        Flood::Settings,
        Flood::Ping,
        Flood::Control,
        Flood::TooManyStreams,
        Flood::ZeroWindow,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Flood::RapidReset => "rapid_reset",
            Flood::Continuation => "continuation",
            Flood::HpackBomb => "hpack_bomb",
            Flood::Settings => "settings",
            Flood::Ping => "ping",
            Flood::Control => "control",
            Flood::TooManyStreams => "too_many_streams",
            Flood::ZeroWindow => "zero_window",
        }
    }
}

/// The error codes of RFC 9113 §7 a server's GOAWAY carries, by value.
const ERROR_CODES: [&str; 14] = [
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
];

type ByLabel = Family<[(&'static str, &'static str); 1], Counter>;

/// The handles HTTP/2 records with.
#[derive(Debug, Default)]
pub struct Http2Metrics {
    connections: Counter,
    streams: Counter,
    streams_reset: Counter,
    goaway_family: ByLabel,
    /// Indexed by error code, in the order of `ERROR_CODES`.
    goaways: [Counter; 14],
    flood_family: ByLabel,
    /// Indexed by [`Flood`], in the order of [`Flood::ALL`].
    floods: [Counter; 8],
}

impl Http2Metrics {
    /// The handles, every label value present from the start.
    pub fn new() -> Self {
        let goaway_family = ByLabel::default();
        let goaways =
            ERROR_CODES.map(|code| (goaway_family.get_or_create(&[("error_code", code)])).clone());
        let flood_family = ByLabel::default();
        let floods = Flood::ALL.map(|kind| {
            flood_family
                .get_or_create(&[("kind", kind.label())])
                .clone()
        });
        Http2Metrics {
            goaway_family,
            goaways,
            flood_family,
            floods,
            ..Http2Metrics::default()
        }
    }

    /// Counts a connection that started speaking HTTP/2.
    pub fn connection(&self) {
        self.connections.inc();
    }

    /// Counts a stream the client opened and the server took up.
    pub fn stream(&self) {
        self.streams.inc();
    }

    /// Counts a stream the client reset before its answer was sent.
    pub fn stream_reset(&self) {
        self.streams_reset.inc();
    }

    /// Counts a GOAWAY sent with the error code `code` (one of RFC 9113's; the
    /// server sends no other).
    pub fn goaway(&self, code: u32) {
        if let Some(counter) = usize::try_from(code).ok().and_then(|c| self.goaways.get(c)) {
            counter.inc();
        }
    }

    /// Counts a connection ended for a flood.
    pub fn flood(&self, kind: Flood) {
        self.floods[kind as usize].inc();
    }

    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "smol_toy_http2_connections",
            "Connections that spoke HTTP/2 (over TLS by ALPN, or cleartext by prior knowledge)",
            self.connections.clone(),
        );
        registry.register(
            "smol_toy_http2_streams",
            "HTTP/2 streams the clients opened and the server took up",
            self.streams.clone(),
        );
        registry.register(
            "smol_toy_http2_streams_reset",
            "HTTP/2 streams the client reset before their answer was sent",
            self.streams_reset.clone(),
        );
        registry.register(
            "smol_toy_http2_goaways_sent",
            "GOAWAY frames the server sent, by error code",
            self.goaway_family.clone(),
        );
        registry.register(
            "smol_toy_http2_floods",
            "HTTP/2 connections ended for abusing the protocol, by kind",
            self.flood_family.clone(),
        );
    }
}
