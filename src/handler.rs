//! The contract between the server and an application, whatever protocol carried
//! the request: the application names its routes and answers requests to them, in
//! http-types' types, with what a [`Context`] lends it; the server does everything
//! else (parsing, OPTIONS, 404, 405, 501, errors, keep-alive).

use std::future::Future;
use std::time::Instant;

use http_types::headers::CONTENT_TYPE;
use http_types::{Body, Method, Request, Response, StatusCode};

use crate::timing_wheel::TimingWheel;

/// A path the application serves: the path, what the application calls it, and the
/// methods it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<E> {
    /// The path (without a query), matched exactly; also the route's `route` label in
    /// the metrics.
    pub path: &'static str,
    /// The application's name for the path, handed back to [`Handler::respond`].
    pub endpoint: E,
    /// The methods the path answers to. `OPTIONS` is answered by the connection
    /// layer for every path and need not be listed.
    pub methods: &'static [Method],
}

/// What the server needs from an application.
///
/// The server looks the path up once in [`ROUTES`](Handler::ROUTES). It
/// answers `OPTIONS`, unknown paths (404 or 501) and methods the route does not take
/// (405 with `Allow`) itself; [`respond`](Handler::respond) sees only requests whose
/// route takes their method.
pub trait Handler: Send + Sync + 'static {
    /// The application's name for one of its paths.
    type Endpoint: Copy + Send + 'static;

    /// Every route; a path not listed does not exist. Fixed, so that the metrics
    /// know every `route` label from the start.
    const ROUTES: &'static [Route<Self::Endpoint>];

    /// Header fields every response carries, the server's own answers
    /// (errors included) as well as [`respond`](Handler::respond)'s. Each name must
    /// be a token, and each value visible ASCII, spaces and tabs.
    const RESPONSE_FIELDS: &'static [ResponseField] = &[];

    /// Answers a request to `endpoint` with one of the route's methods.
    fn respond(
        &self,
        endpoint: Self::Endpoint,
        request: Request,
        context: Context<'_>,
    ) -> impl Future<Output = Response> + Send;
}

/// Which route a request went to, for the `route` label of the metrics: decided
/// by dispatch, before the application sees the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    /// The application's route at this index of its route table.
    Route(usize),
    /// `OPTIONS *`, asked of the server rather than of a path.
    Server,
    /// A path no route serves.
    Unmatched,
    /// A request refused before routing (400, 408, 414, 431, 505…).
    Invalid,
}

/// The media type of [`Context::render_metrics`]'s text.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A header field as a name and a value, such as `("cache-control", "no-store")`.
pub type ResponseField = (&'static str, &'static str);

/// What an application may use of the server that runs it, whatever the protocol
/// that carried the request: a timer, whether the server is draining, and its
/// metrics as text. Nothing else of the server is reachable from here.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    server: &'a dyn Services,
    draining: bool,
}

/// What the server lends an application through [`Context`]; implemented by the
/// server's shared state, and by the unit tests' stand-ins.
pub(crate) trait Services: Sync {
    /// The wheel of the application's timers.
    fn app_timers(&self) -> &TimingWheel;
    /// The metrics, in the OpenMetrics text format.
    fn render_metrics(&self) -> String;
}

impl<'a> Context<'a> {
    /// The context of a request that arrived while the server was `draining` or not.
    pub(crate) fn new(server: &'a dyn Services, draining: bool) -> Self {
        Context { server, draining }
    }

    /// Waits until `deadline`: met up to `--timer-slack` (10 ms) late, never early.
    /// Starting a wait wakes no other thread while an earlier one is pending (an
    /// `async_io::Timer` always wakes the reactor's), and the waits that end in the
    /// same tick are woken together.
    pub fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'a {
        self.server.app_timers().sleep_until(deadline)
    }

    /// Whether the server is shutting down: a readiness check fails from then on.
    pub fn draining(&self) -> bool {
        self.draining
    }

    /// The server's metrics, in the OpenMetrics text format
    /// (`application/openmetrics-text; version=1.0.0`), for an endpoint that shows them.
    pub fn render_metrics(&self) -> String {
        self.server.render_metrics()
    }
}

/// The paths of `H`'s routes, in order: the `route` label values of its metrics.
pub fn route_paths<H: Handler>() -> Vec<&'static str> {
    H::ROUTES.iter().map(|route| route.path).collect()
}

/// A response with a JSON body.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(status);
    // The field first: `set_body` then keeps it, rather than formatting the body's
    // media type into a new one for every response.
    response.insert_header(CONTENT_TYPE, "application/json");
    response.set_body(Body::from_bytes(body));
    response
}
