//! What HTTP/3 counts: its connections and streams, the GOAWAYs the server sent,
//! QUIC handshakes by how they ended, and the attacks ended, by kind.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// An attack on HTTP/3 or QUIC that the server ended: the `kind` label of
/// `smol_toy_http3_attacks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http3Attack {
    /// Streams opened and reset by the client faster than they are answered
    /// (CVE-2023-44487's HTTP/3 form): the connection closed.
    RapidReset,
    /// A frame other than DATA longer than the cap (a HEADERS frame that says
    /// 1 GiB): its stream stopped with H3_EXCESSIVE_LOAD.
    FrameTooLarge,
    /// A request stream whose HEADERS did not arrive within the header timeout:
    /// reset with H3_REQUEST_INCOMPLETE.
    SlowHeaders,
    /// More unidirectional streams than a client needs (a second control stream
    /// h3 refuses itself): the connection closed.
    UnidirectionalStreams,
    /// A client that took none of an answer for the write timeout: its
    /// connection closed.
    WriteStalled,
}

impl Http3Attack {
    /// Every kind, in the order of their counters.
    pub const ALL: [Http3Attack; 5] = [
        Http3Attack::RapidReset,
        Http3Attack::FrameTooLarge,
        Http3Attack::SlowHeaders,
        Http3Attack::UnidirectionalStreams,
        Http3Attack::WriteStalled,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Http3Attack::RapidReset => "rapid_reset",
            Http3Attack::FrameTooLarge => "frame_too_large",
            Http3Attack::SlowHeaders => "slow_headers",
            Http3Attack::UnidirectionalStreams => "unidirectional_streams",
            Http3Attack::WriteStalled => "write_stalled",
        }
    }
}

/// How a QUIC handshake the server was asked for ended: the `result` label of
/// `smol_toy_quic_handshakes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicHandshake {
    /// Accepted: the connection was set up.
    Ok,
    /// The client's handshake failed, or it left.
    Failed,
    /// It did not finish within the header timeout.
    Timeout,
    /// Refused at once: the server was at its connection cap.
    Refused,
    /// Answered with a Retry: the client must show that its address is its own
    /// first (many handshakes were in progress).
    Retry,
}

impl QuicHandshake {
    /// Every result, in the order of their counters.
    pub const ALL: [QuicHandshake; 5] = [
        QuicHandshake::Ok,
        QuicHandshake::Failed,
        QuicHandshake::Timeout,
        QuicHandshake::Refused,
        QuicHandshake::Retry,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            QuicHandshake::Ok => "ok",
            QuicHandshake::Failed => "failed",
            QuicHandshake::Timeout => "timeout",
            QuicHandshake::Refused => "refused",
            QuicHandshake::Retry => "retry",
        }
    }
}

type ByLabel = Family<[(&'static str, &'static str); 1], Counter>;

/// The handles HTTP/3 records with.
#[derive(Debug, Default)]
pub struct Http3Metrics {
    streams: Counter,
    streams_reset: Counter,
    goaways: Counter,
    handshake_family: ByLabel,
    /// Indexed by [`QuicHandshake`], in the order of [`QuicHandshake::ALL`].
    handshakes: [Counter; QuicHandshake::ALL.len()],
    attack_family: ByLabel,
    /// Indexed by [`Http3Attack`], in the order of [`Http3Attack::ALL`].
    attacks: [Counter; Http3Attack::ALL.len()],
}

impl Http3Metrics {
    /// The handles, every label value present from the start.
    pub fn new() -> Self {
        let handshake_family = ByLabel::default();
        let handshakes = QuicHandshake::ALL
            .map(|result| (handshake_family.get_or_create(&[("result", result.label())])).clone());
        let attack_family = ByLabel::default();
        let attacks = Http3Attack::ALL
            .map(|kind| (attack_family.get_or_create(&[("kind", kind.label())])).clone());
        Http3Metrics {
            handshake_family,
            handshakes,
            attack_family,
            attacks,
            ..Http3Metrics::default()
        }
    }

    /// Counts a QUIC handshake, by how it ended.
    pub fn handshake(&self, result: QuicHandshake) {
        self.handshakes[result as usize].inc();
    }

    /// Counts a request stream the server took up.
    pub fn stream(&self) {
        self.streams.inc();
    }

    /// Counts a stream the client cancelled before its answer was sent.
    pub fn stream_reset(&self) {
        self.streams_reset.inc();
    }

    /// Counts a GOAWAY the server sent.
    pub fn goaway(&self) {
        self.goaways.inc();
    }

    /// Counts an attack ended.
    pub fn attack(&self, kind: Http3Attack) {
        self.attacks(kind, 1);
    }

    /// Counts `count` attacks of a kind ended.
    pub fn attacks(&self, kind: Http3Attack, count: u64) {
        self.attacks[kind as usize].inc_by(count);
    }

    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "smol_toy_quic_handshakes",
            "QUIC handshakes clients asked for, by how they ended",
            self.handshake_family.clone(),
        );
        registry.register(
            "smol_toy_http3_streams",
            "HTTP/3 request streams the server took up",
            self.streams.clone(),
        );
        registry.register(
            "smol_toy_http3_streams_reset",
            "HTTP/3 streams the client cancelled before their answer was sent",
            self.streams_reset.clone(),
        );
        registry.register(
            "smol_toy_http3_goaways_sent",
            "HTTP/3 GOAWAY frames the server sent",
            self.goaways.clone(),
        );
        registry.register(
            "smol_toy_http3_attacks",
            "Attacks on HTTP/3 and QUIC the server ended, by kind",
            self.attack_family.clone(),
        );
    }
}
