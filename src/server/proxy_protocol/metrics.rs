//! What the PROXY protocol counts: connections refused, by reason.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::header::HeaderRefusal;

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
