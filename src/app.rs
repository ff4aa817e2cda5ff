//! The application: what smol-toy answers on `/toy`, `/healthz`, `/readyz` and
//! `/metrics`.

use std::future::Future;
use std::time::{Duration, Instant};

use http_types::{Method, Request, Response, StatusCode};

use crate::handler::{Context, Handler, METRICS_CONTENT_TYPE, ResponseField, Route, json_response};

/// The smol-toy service: `/toy`, `/healthz`, `/readyz` and `/metrics`.
#[derive(Debug, Clone)]
pub struct Toy {
    delay: Duration,
    toy_body: Vec<u8>,
    health_body: Vec<u8>,
    ready_body: Vec<u8>,
    draining_body: Vec<u8>,
}

/// The paths [`Toy`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/toy`: waits, then answers `{"result":1}`.
    Toy,
    /// `/healthz`: answers `{"status":"ok"}` at once while the process serves (liveness).
    Health,
    /// `/readyz`: `{"status":"ready"}`, or 503 `{"status":"draining"}` once a shutdown
    /// was asked for (readiness).
    Ready,
    /// `/metrics`: the server's metrics, for Prometheus.
    Metrics,
}

/// The methods every route takes.
const READ_ONLY: &[Method] = &[Method::Get, Method::Head];

const fn read_only(path: &'static str, endpoint: Endpoint) -> Route<Endpoint> {
    Route {
        path,
        endpoint,
        methods: READ_ONLY,
    }
}

impl Toy {
    /// Creates the service; `/toy` waits `delay` before it answers.
    pub fn new(delay: Duration) -> Self {
        // The bodies never change, so they are serialized once here.
        Toy {
            delay,
            toy_body: serde_json::to_vec(&serde_json::json!({ "result": 1 }))
                .expect("a literal serializes"),
            health_body: serde_json::to_vec(&serde_json::json!({ "status": "ok" }))
                .expect("a literal serializes"),
            ready_body: serde_json::to_vec(&serde_json::json!({ "status": "ready" }))
                .expect("a literal serializes"),
            draining_body: serde_json::to_vec(&serde_json::json!({ "status": "draining" }))
                .expect("a literal serializes"),
        }
    }
}

impl Handler for Toy {
    type Endpoint = Endpoint;

    const ROUTES: &'static [Route<Endpoint>] = &[
        read_only("/toy", Endpoint::Toy),
        read_only("/healthz", Endpoint::Health),
        read_only("/readyz", Endpoint::Ready),
        read_only("/metrics", Endpoint::Metrics),
    ];

    /// No answer of this service may be stored by a cache: health and readiness
    /// change from one moment to the next, and `/toy` stands for a computation.
    const RESPONSE_FIELDS: &'static [ResponseField] = &[("cache-control", "no-store")];

    fn respond(
        &self,
        endpoint: Endpoint,
        request: Request,
        context: Context<'_>,
    ) -> impl Future<Output = Response> + Send {
        // No route reads the request. Dropped before the future is made, it takes no
        // room in the future, and its memory is free while `/toy` waits.
        drop(request);
        async move {
            match endpoint {
                Endpoint::Toy => {
                    // The whole point: waiting here holds a timer, not a thread. The
                    // server's wheel of timers is swept by an async-io timer, once a
                    // tick for all the waits that end in it.
                    context.sleep_until(Instant::now() + self.delay).await;
                    json_response(StatusCode::Ok, self.toy_body.clone())
                }
                Endpoint::Health => json_response(StatusCode::Ok, self.health_body.clone()),
                Endpoint::Ready if context.draining() => {
                    json_response(StatusCode::ServiceUnavailable, self.draining_body.clone())
                }
                Endpoint::Ready => json_response(StatusCode::Ok, self.ready_body.clone()),
                Endpoint::Metrics => {
                    let mut response = Response::new(StatusCode::Ok);
                    response.set_body(context.render_metrics());
                    response.set_content_type(METRICS_CONTENT_TYPE.into());
                    response
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Services;
    use crate::metrics::Metrics;
    use crate::timing_wheel::TimingWheel;
    use http_types::mime;

    /// The server's side of the context, as the server has it.
    struct Server {
        metrics: Metrics,
        timers: TimingWheel,
    }

    impl Services for Server {
        fn app_timers(&self) -> &TimingWheel {
            &self.timers
        }

        fn render_metrics(&self) -> String {
            self.metrics.render()
        }
    }

    fn get(path: &str) -> Request {
        Request::new(Method::Get, format!("http://localhost{path}").as_str())
    }

    fn respond_draining(toy: &Toy, endpoint: Endpoint, draining: bool) -> Response {
        let server = Server {
            metrics: Metrics::new(&crate::handler::route_paths::<Toy>(), 1, 1),
            // Exact timers: nothing to sweep.
            timers: TimingWheel::with_tick(Duration::ZERO, Duration::from_secs(1)),
        };
        let context = Context::new(&server, draining);
        smol::block_on(toy.respond(endpoint, get("/toy"), context))
    }

    fn respond(toy: &Toy, endpoint: Endpoint) -> Response {
        respond_draining(toy, endpoint, false)
    }

    #[test]
    fn readiness_fails_while_draining() {
        let toy = Toy::new(Duration::ZERO);
        let mut ready = respond_draining(&toy, Endpoint::Ready, false);
        assert_eq!(ready.status(), StatusCode::Ok);
        let body = smol::block_on(ready.body_string()).unwrap();
        assert_eq!(body, r#"{"status":"ready"}"#);
        let mut draining = respond_draining(&toy, Endpoint::Ready, true);
        assert_eq!(draining.status(), StatusCode::ServiceUnavailable);
        let body = smol::block_on(draining.body_string()).unwrap();
        assert_eq!(body, r#"{"status":"draining"}"#);
        // Liveness does not change.
        let health = respond_draining(&toy, Endpoint::Health, true);
        assert_eq!(health.status(), StatusCode::Ok);
    }

    #[test]
    fn toy_waits_then_answers_result_1() {
        let toy = Toy::new(Duration::from_millis(50));
        let started = std::time::Instant::now();
        let mut response = respond(&toy, Endpoint::Toy);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(response.status(), StatusCode::Ok);
        assert_eq!(response.content_type(), Some(mime::JSON));
        let body = smol::block_on(response.body_string()).unwrap();
        assert_eq!(body, r#"{"result":1}"#);
    }

    #[test]
    fn metrics_are_openmetrics_text() {
        let mut response = respond(&Toy::new(Duration::ZERO), Endpoint::Metrics);
        assert_eq!(response.status(), StatusCode::Ok);
        let content_type = response.content_type().map(|mime| mime.to_string());
        assert!(
            content_type
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        let body = smol::block_on(response.body_string()).unwrap();
        assert!(body.contains("\nsmol_toy_connection_limit 1\n"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
