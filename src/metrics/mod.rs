//! Prometheus metrics: what the server counts, and the text a scrape of `/metrics`
//! reads, in the OpenMetrics format, encoded by the `prometheus-client` crate.
//!
//! - [`requests`]: per request, by method, route and status, and durations.
//! - [`process`]: the standard `process_*` metrics, read from `/proc`.
//! - [`tls`]: handshakes, the certificate's expiry and reloads, over HTTPS.
//! - [`log_sink`]: log lines dropped while stderr was stalled.
//! - [`http2`]: HTTP/2 connections, streams, GOAWAYs and floods.
//! - [`http3`]: QUIC handshakes, HTTP/3 streams, GOAWAYs and attacks.
//! - here: connections, requests by protocol, and the registry that puts everything together.
//!
//! Every handle is resolved when the server starts; recording bumps atomics.

mod http2;
mod http3;
mod log_sink;
mod process;
mod requests;
mod tls;

pub use http2::{Flood, Http2Metrics};
pub use http3::{Http3Attack, Http3Metrics, QuicHandshake};
pub use tls::{Handshake, TlsMetrics};

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use http_types::{Method, StatusCode};

use crate::connection::{CloseReason, Protocol};
use crate::handler::RouteLabel;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use log_sink::LogSinkCollector;
use process::ProcessCollector;
use requests::RequestMetrics;

/// Everything the server counts, and the registry that renders it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Arc<RequestMetrics>,
    connections_open: Gauge,
    accepted: Counter,
    /// Indexed by [`CloseReason`], in the order of [`CloseReason::ALL`].
    closed: [Counter; CloseReason::ALL.len()],
    accept_errors: Counter,
    /// Requests answered, indexed by [`Protocol`], in the order of [`Protocol::ALL`].
    by_protocol: [Counter; Protocol::ALL.len()],
    /// What HTTP/2 counts.
    pub http2: Http2Metrics,
    /// What HTTP/3 counts.
    pub http3: Http3Metrics,
}

impl Metrics {
    /// The metrics of a server whose application serves `route_paths` (the `route`
    /// label values, in the order of its route table), that keeps at most
    /// `connection_limit` connections open, and that records from `threads` worker
    /// threads.
    pub fn new(route_paths: &[&'static str], connection_limit: usize, threads: usize) -> Self {
        // `register` ends each help text with a period itself.
        let mut registry = Registry::default();
        let requests = Arc::new(RequestMetrics::new(route_paths, threads));
        registry.register_collector(Box::new(Arc::clone(&requests)));
        let connections_open = Gauge::default();
        registry.register(
            "smol_toy_connections_open",
            "Connections open now",
            connections_open.clone(),
        );
        let accepted = Counter::default();
        registry.register(
            "smol_toy_connections_accepted",
            "Connections accepted",
            accepted.clone(),
        );
        let closed_family = Family::<[(&'static str, &'static str); 1], Counter>::default();
        let closed = CloseReason::ALL.map(|reason| {
            closed_family
                .get_or_create(&[("reason", reason.label())])
                .clone()
        });
        registry.register(
            "smol_toy_connections_closed",
            "Connections closed, by reason",
            closed_family,
        );
        let accept_errors = Counter::default();
        registry.register(
            "smol_toy_accept_errors",
            "Failed accept calls (out of descriptors or memory, or a connection reset before it was accepted)",
            accept_errors.clone(),
        );
        let limit = Gauge::<i64, AtomicI64>::default();
        limit.set(i64::try_from(connection_limit).unwrap_or(i64::MAX));
        registry.register(
            "smol_toy_connection_limit",
            "Most connections open at once; more wait in the listen backlog",
            limit,
        );
        register_build_info(&mut registry);
        let (by_protocol, http2, http3) = register_protocols(&mut registry);
        registry.register_collector(Box::new(ProcessCollector));
        registry.register_collector(Box::new(LogSinkCollector));
        Metrics {
            registry,
            requests,
            connections_open,
            accepted,
            closed,
            accept_errors,
            by_protocol,
            http2,
            http3,
        }
    }

    /// Adds the metrics a part of the server keeps itself (HTTPS's, the PROXY
    /// protocol's).
    pub fn register_with(&mut self, register: impl FnOnce(&mut Registry)) {
        register(&mut self.registry);
    }

    /// The metrics in the OpenMetrics text format ([`METRICS_CONTENT_TYPE`]).
    ///
    /// [`METRICS_CONTENT_TYPE`]: crate::handler::METRICS_CONTENT_TYPE
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; only a collector's own error could.
        if let Err(error) = encode(&mut text, &self.registry) {
            log::error!("cannot encode the metrics: {error}");
        }
        text
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.requests.started();
        InFlight(&self.requests)
    }

    /// Counts an answered request.
    pub fn request_answered(
        &self,
        route: RouteLabel,
        method: Option<Method>,
        status: StatusCode,
        duration: Duration,
        protocol: Protocol,
    ) {
        self.requests.record(route, method, status, duration);
        self.by_protocol[protocol as usize].inc();
    }

    /// Counts an accepted connection as open.
    pub fn connection_opened(&self) {
        self.accepted.inc();
        self.connections_open.inc();
    }

    /// Counts a connection as closed.
    pub fn connection_closed(&self, reason: CloseReason) {
        self.connections_open.dec();
        self.closed[reason as usize].inc();
    }

    /// Counts a failed `accept`.
    pub fn accept_failed(&self) {
        self.accept_errors.inc();
    }
}

/// A request in flight: counted until dropped, whether it was answered or not.
#[must_use]
pub struct InFlight<'a>(&'a RequestMetrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// The counters of requests by protocol, and HTTP/2's metrics, in `registry`.
fn register_protocols(
    registry: &mut Registry,
) -> ([Counter; Protocol::ALL.len()], Http2Metrics, Http3Metrics) {
    let protocol_family = Family::<[(&'static str, &'static str); 1], Counter>::default();
    let by_protocol = Protocol::ALL
        .map(|protocol| (protocol_family.get_or_create(&[("protocol", protocol.label())])).clone());
    registry.register(
        "smol_toy_http_requests_by_protocol",
        "Requests answered, by protocol (http1: HTTP/1.0 and 1.1; http2; http3)",
        protocol_family,
    );
    let http2 = Http2Metrics::new();
    http2.register(registry);
    let http3 = Http3Metrics::new();
    http3.register(registry);
    (by_protocol, http2, http3)
}

/// `smol_toy_build_info{version}`: a gauge rather than an OpenMetrics info, which
/// the classic text format (and promtool) does not know.
fn register_build_info(registry: &mut Registry) {
    let build = Family::<[(&'static str, &'static str); 1], Gauge>::default();
    build
        .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
        .set(1);
    registry.register("smol_toy_build_info", "The running version", build);
}
