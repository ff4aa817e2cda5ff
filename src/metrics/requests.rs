//! Request metrics: a counter per method, route and status, a duration histogram per
//! route, and the requests in flight, kept in fixed tables of atomics.
//!
//! Every series a request can touch has its atomic from the start, found by index:
//! recording a request takes no lock, allocates nothing and hashes no label set.
//! Each worker thread records into a shard of its own, so that two threads answering
//! the same route do not pass one cache line back and forth; a scrape adds the shards
//! up and shows the series that have counted something.

use crate::handler::RouteLabel;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http_types::{Method, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// The methods that are their own `method` label value; any other is `other`.
const METHODS: [Method; 9] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Connect,
    Method::Options,
    Method::Trace,
    Method::Patch,
];
const OTHER_METHOD: usize = METHODS.len();

/// Every status http-types can express, in order: a response's status is one of them.
const STATUSES: [u16; 59] = [
    100, 101, 103, 200, 201, 202, 203, 204, 205, 206, 207, 226, 300, 301, 302, 303, 304, 307, 308,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418,
    421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508,
    510, 511,
];

/// The duration histogram's upper bounds, in seconds. Fine below a millisecond for
/// the immediate answers, and fine around one second for `/toy`, so that a quantile
/// of its one-second wait reads to within a few milliseconds.
pub const DURATION_BUCKETS: [f64; 30] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.9, 0.99,
    1.0, 1.001, 1.002, 1.003, 1.005, 1.0075, 1.01, 1.015, 1.02, 1.025, 1.05, 1.1, 1.25, 1.5, 2.5,
    5.0,
];

/// The request counters, duration histograms and in-flight counts.
#[derive(Debug)]
pub struct RequestMetrics {
    /// The `route` label values: the routes' paths, then `*`, `unmatched`, `invalid`.
    routes: Box<[&'static str]>,
    shards: Box<[Shard]>,
}

/// What one thread records. Aligned so that two shards' own counters never share a
/// cache line; the tables are allocations of their own.
#[derive(Debug)]
#[repr(align(128))]
struct Shard {
    /// One counter per route, method and status, in that order.
    counts: Box<[AtomicU64]>,
    /// One histogram per route.
    durations: Box<[DurationHistogram]>,
    /// Requests started and finished here (a request may finish on another thread).
    started: AtomicU64,
    finished: AtomicU64,
}

/// The shard each thread uses: threads take the next one in turn as they first record.
fn shard_index(shards: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
    }
    let index = SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let index = NEXT.fetch_add(1, Ordering::Relaxed);
            shard.set(Some(index));
            index
        })
    });
    index % shards
}

impl RequestMetrics {
    /// Tables for the application's routes, named by their paths, in `shards` shards
    /// (one per worker thread).
    pub fn new(route_paths: &[&'static str], shards: usize) -> Self {
        let routes: Box<[&'static str]> = route_paths
            .iter()
            .copied()
            .chain(["*", "unmatched", "invalid"])
            .collect();
        let cells = routes.len() * (METHODS.len() + 1) * STATUSES.len();
        let shard = || Shard {
            counts: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            durations: routes.iter().map(|_| DurationHistogram::new()).collect(),
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        };
        RequestMetrics {
            shards: (0..shards.max(1)).map(|_| shard()).collect(),
            routes,
        }
    }

    fn shard(&self) -> &Shard {
        &self.shards[shard_index(self.shards.len())]
    }

    /// Counts a request as in flight until [`finished`](Self::finished).
    pub fn started(&self) {
        self.shard().started.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request started earlier as no longer in flight.
    pub fn finished(&self) {
        self.shard().finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests started and not finished, over every shard.
    fn in_flight(&self) -> i64 {
        let (started, finished) = self.shards.iter().fold((0u64, 0u64), |(s, f), shard| {
            let finished = f + shard.finished.load(Ordering::Relaxed);
            (s + shard.started.load(Ordering::Relaxed), finished)
        });
        i64::try_from(started.saturating_sub(finished)).unwrap_or(i64::MAX)
    }

    /// Counts one answered request, and how long it took from its head's arrival
    /// until its response was handed to the connection.
    pub fn record(
        &self,
        route: RouteLabel,
        method: Option<Method>,
        status: StatusCode,
        duration: Duration,
    ) {
        let route = self.route_index(route);
        let method = method
            .and_then(|method| METHODS.iter().position(|known| *known == method))
            .unwrap_or(OTHER_METHOD);
        // A status outside the list (none today) is counted as 500 rather than lost.
        let status = STATUSES
            .binary_search(&u16::from(status))
            .or_else(|_| STATUSES.binary_search(&500))
            .unwrap_or(0);
        let cell = (route * (METHODS.len() + 1) + method) * STATUSES.len() + status;
        let shard = self.shard();
        shard.counts[cell].fetch_add(1, Ordering::Relaxed);
        shard.durations[route].observe(duration);
    }

    fn route_index(&self, route: RouteLabel) -> usize {
        let fixed = self.routes.len() - 3;
        match route {
            RouteLabel::Route(index) => index.min(fixed - 1),
            RouteLabel::Server => fixed,
            RouteLabel::Unmatched => fixed + 1,
            RouteLabel::Invalid => fixed + 2,
        }
    }
}

impl Collector for RequestMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let in_flight = ConstGauge::new(self.in_flight());
        in_flight.encode(encoder.encode_descriptor(
            "smol_toy_http_requests_in_flight",
            "Requests read and not yet answered.",
            None,
            in_flight.metric_type(),
        )?)?;

        let mut counters = encoder.encode_descriptor(
            "smol_toy_http_requests",
            "HTTP requests answered, by method, route and status.",
            None,
            MetricType::Counter,
        )?;
        let rows = self.routes.iter().flat_map(|route| {
            let methods = METHODS.iter().map(Method::as_ref).chain(["other"]);
            methods
                .flat_map(move |method| STATUSES.iter().map(move |status| (route, method, status)))
        });
        for (cell, (route, method, status)) in rows.enumerate() {
            let count: u64 = (self.shards.iter())
                .map(|shard| shard.counts[cell].load(Ordering::Relaxed))
                .sum();
            if count > 0 {
                let labels = [("method", method), ("route", route)];
                let labels = (labels, [("status", *status)]);
                counters
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }

        let mut histograms = encoder.encode_descriptor(
            "smol_toy_http_request_duration",
            "Time from a request head's arrival until its response is handed to the connection.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (index, route) in self.routes.iter().enumerate() {
            let shards = self.shards.iter().map(|shard| &shard.durations[index]);
            let (sum, count, buckets) = DurationHistogram::snapshot(shards);
            if count > 0 {
                histograms
                    .encode_family(&[("route", *route)])?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        Ok(())
    }
}

/// The bucket bounds in nanoseconds, so that finding a bucket compares integers;
/// computed once, at compile time, for every histogram.
const BOUNDS_NANOS: [u64; DURATION_BUCKETS.len()] = {
    let mut nanos = [0; DURATION_BUCKETS.len()];
    let mut i = 0;
    while i < nanos.len() {
        // Rounded to the nearest nanosecond (`round` is not const at the MSRV).
        nanos[i] = (DURATION_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    nanos
};

/// A histogram of durations in atomics: one count per bucket (not cumulative; the
/// scrape adds them up), and the sum.
#[derive(Debug)]
struct DurationHistogram {
    /// One count per bucket, and one for the durations above the last bound.
    counts: [AtomicU64; DURATION_BUCKETS.len() + 1],
    /// The sum of the durations in seconds, as the bits of an `f64`.
    sum_seconds: AtomicU64,
}

impl DurationHistogram {
    fn new() -> Self {
        DurationHistogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_seconds: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn observe(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let seconds = duration.as_secs_f64();
        let _ = self
            .sum_seconds
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                Some((f64::from_bits(sum) + seconds).to_bits())
            });
    }

    /// The sum, the count and the buckets' (upper bound, count) pairs of several
    /// histograms together, the last bucket unbounded (`f64::MAX`, which the encoder
    /// writes as `+Inf`).
    fn snapshot<'a>(histograms: impl Iterator<Item = &'a Self>) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = (DURATION_BUCKETS.iter().copied())
            .chain([f64::MAX])
            .map(|bound| (bound, 0))
            .collect();
        let mut sum = 0.0;
        for histogram in histograms {
            for ((_, total), count) in buckets.iter_mut().zip(histogram.counts.iter()) {
                *total += count.load(Ordering::Relaxed);
            }
            sum += f64::from_bits(histogram.sum_seconds.load(Ordering::Relaxed));
        }
        let count = buckets.iter().map(|(_, count)| count).sum();
        (sum, count, buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(metrics: RequestMetrics) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(metrics));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn each_request_counts_once_under_its_labels() {
        let metrics = RequestMetrics::new(&["/a", "/b"], 2);
        let requests = [
            (RouteLabel::Route(1), Some(Method::Get), StatusCode::Ok),
            (RouteLabel::Route(1), Some(Method::Get), StatusCode::Ok),
            (RouteLabel::Unmatched, None, StatusCode::NotImplemented),
            (RouteLabel::Invalid, None, StatusCode::BadRequest),
            (RouteLabel::Server, Some(Method::Options), StatusCode::Ok),
        ];
        for (route, method, status) in requests {
            metrics.record(route, method, status, Duration::from_millis(1));
        }
        let text = render(metrics);
        for line in [
            r#"smol_toy_http_requests_total{method="GET",route="/b",status="200"} 2"#,
            r#"smol_toy_http_requests_total{method="other",route="unmatched",status="501"} 1"#,
            r#"smol_toy_http_requests_total{method="other",route="invalid",status="400"} 1"#,
            r#"smol_toy_http_requests_total{method="OPTIONS",route="*",status="200"} 1"#,
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} in\n{text}");
        }
        assert_eq!(text.matches("smol_toy_http_requests_total{").count(), 4);
        assert!(!text.contains(r#"route="/a""#), "{text}");
    }

    #[test]
    fn durations_land_in_their_buckets() {
        let metrics = RequestMetrics::new(&["/toy"], 2);
        for millis in [1_000, 1_000, 1_004, 1_040, 7_000] {
            let duration = Duration::from_millis(millis);
            metrics.record(
                RouteLabel::Route(0),
                Some(Method::Get),
                StatusCode::Ok,
                duration,
            );
        }
        let text = render(metrics);
        for line in [
            r#"smol_toy_http_request_duration_seconds_bucket{le="0.99",route="/toy"} 0"#,
            r#"smol_toy_http_request_duration_seconds_bucket{le="1.0",route="/toy"} 2"#,
            r#"smol_toy_http_request_duration_seconds_bucket{le="1.003",route="/toy"} 2"#,
            r#"smol_toy_http_request_duration_seconds_bucket{le="1.005",route="/toy"} 3"#,
            r#"smol_toy_http_request_duration_seconds_bucket{le="1.05",route="/toy"} 4"#,
            r#"smol_toy_http_request_duration_seconds_bucket{le="5.0",route="/toy"} 4"#,
            r#"smol_toy_http_request_duration_seconds_bucket{le="+Inf",route="/toy"} 5"#,
            r#"smol_toy_http_request_duration_seconds_count{route="/toy"} 5"#,
            r#"smol_toy_http_request_duration_seconds_sum{route="/toy"} 11.044"#,
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} in\n{text}");
        }
    }
}
