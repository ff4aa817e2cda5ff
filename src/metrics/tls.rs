//! What HTTPS counts: handshakes by result, the certificate's expiry, and reloads.

use std::sync::atomic::AtomicI64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// How a connection's TLS handshake ended: the `result` label of
/// `smol_toy_tls_handshakes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// It completed.
    Ok,
    /// It failed: a protocol error, no shared version, cipher suite or ALPN
    /// protocol, or the client left midway.
    Failed,
    /// It took longer than the header timeout.
    Timeout,
    /// The client spoke plain HTTP.
    Plaintext,
}

impl Handshake {
    const ALL: [Handshake; 4] = [
        Handshake::Ok,
        Handshake::Failed,
        Handshake::Timeout,
        Handshake::Plaintext,
    ];

    fn label(self) -> &'static str {
        match self {
            Handshake::Ok => "ok",
            Handshake::Failed => "failed",
            Handshake::Timeout => "timeout",
            Handshake::Plaintext => "plaintext",
        }
    }
}

type ByResult = Family<[(&'static str, &'static str); 1], Counter>;

/// The handles HTTPS records with; clones share them.
#[derive(Debug, Clone)]
pub struct TlsMetrics {
    handshake_family: ByResult,
    /// Indexed by [`Handshake`], in the order of [`Handshake::ALL`].
    handshakes: [Counter; 4],
    expiry: Gauge<i64, AtomicI64>,
    reload_family: ByResult,
    /// Succeeded, then failed.
    reloads: [Counter; 2],
}

impl Default for TlsMetrics {
    fn default() -> Self {
        let handshake_family = ByResult::default();
        let handshakes = Handshake::ALL
            .map(|result| (handshake_family.get_or_create(&[("result", result.label())])).clone());
        let reload_family = ByResult::default();
        let reloads = ["ok", "failed"]
            .map(|result| reload_family.get_or_create(&[("result", result)]).clone());
        TlsMetrics {
            handshake_family,
            handshakes,
            expiry: Gauge::default(),
            reload_family,
            reloads,
        }
    }
}

impl TlsMetrics {
    /// Counts a handshake.
    pub fn handshake(&self, result: Handshake) {
        self.handshakes[result as usize].inc();
    }

    /// Sets the notAfter of the certificate in service, as Unix time.
    pub fn certificate_expires(&self, timestamp: i64) {
        self.expiry.set(timestamp);
    }

    /// Counts a reload of the certificate, `ok` or not.
    pub fn reloaded(&self, ok: bool) {
        self.reloads[usize::from(!ok)].inc();
    }

    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "smol_toy_tls_handshakes",
            "TLS handshakes on HTTPS connections, by result (plaintext: the client spoke plain HTTP)",
            self.handshake_family.clone(),
        );
        registry.register(
            "smol_toy_tls_certificate_expiry_timestamp_seconds",
            "When the certificate in service expires (its notAfter), as Unix time",
            self.expiry.clone(),
        );
        registry.register(
            "smol_toy_tls_reloads",
            "Reloads of the certificate and key on SIGHUP, by result",
            self.reload_family.clone(),
        );
    }
}
