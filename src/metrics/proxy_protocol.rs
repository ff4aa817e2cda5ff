//! What the PROXY protocol counts: connections refused, by reason.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Why a connection was refused before its PROXY protocol header was believed: the
/// `reason` label of `smol_toy_proxy_protocol_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRefusal {
    /// The peer is not in `--trusted-proxies`; nothing it sent was read.
    Untrusted,
    /// The connection did not start with a PROXY header (plain HTTP, or TLS).
    Missing,
    /// The header is not a valid v1 or v2 header.
    Malformed,
    /// The header is longer than the bound: 107 bytes for v1, a length field of
    /// more than `V2_MAX_PAYLOAD` for v2.
    TooLong,
    /// The peer closed the connection before the header was complete.
    Truncated,
    /// The header was not complete within the header timeout.
    Timeout,
}

impl HeaderRefusal {
    const ALL: [HeaderRefusal; 6] = [
        HeaderRefusal::Untrusted,
        HeaderRefusal::Missing,
        HeaderRefusal::Malformed,
        HeaderRefusal::TooLong,
        HeaderRefusal::Truncated,
        HeaderRefusal::Timeout,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            HeaderRefusal::Untrusted => "untrusted",
            HeaderRefusal::Missing => "missing",
            HeaderRefusal::Malformed => "malformed",
            HeaderRefusal::TooLong => "too_long",
            HeaderRefusal::Truncated => "truncated",
            HeaderRefusal::Timeout => "timeout",
        }
    }
}

/// The handles the PROXY protocol records with; clones share them.
#[derive(Debug, Clone)]
pub struct ProxyProtocolMetrics {
    family: Family<[(&'static str, &'static str); 1], Counter>,
    /// Indexed by [`HeaderRefusal`], in the order of [`HeaderRefusal::ALL`].
    rejected: [Counter; 6],
}

impl Default for ProxyProtocolMetrics {
    fn default() -> Self {
        let family = Family::<[(&'static str, &'static str); 1], Counter>::default();
        let rejected = HeaderRefusal::ALL
            .map(|reason| (family.get_or_create(&[("reason", reason.label())])).clone());
        ProxyProtocolMetrics { family, rejected }
    }
}

impl ProxyProtocolMetrics {
    /// Counts a refused connection.
    pub fn rejected(&self, reason: HeaderRefusal) {
        self.rejected[reason as usize].inc();
    }

    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "smol_toy_proxy_protocol_rejected",
            "Connections closed unserved because of their PROXY protocol header, by reason",
            self.family.clone(),
        );
    }
}
