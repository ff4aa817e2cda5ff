//! A panicking handler costs its request a 500, never a worker thread.

mod common;

use std::time::Duration;

use common::{TestServer, test_config};
use http_types::{Method, Request, Response, StatusCode};
use smol_toy::{Handler, Route, ServerState};

struct Fragile;

impl Handler for Fragile {
    type Endpoint = bool;

    /// `/panic` panics; `/fine` does not.
    const ROUTES: &'static [Route<bool>] = &[
        Route {
            path: "/panic",
            endpoint: true,
            methods: &[Method::Get],
        },
        Route {
            path: "/fine",
            endpoint: false,
            methods: &[Method::Get],
        },
    ];

    async fn respond(&self, panics: bool, _request: Request, _: ServerState<'_>) -> Response {
        if panics {
            // Panic after an await, as a real handler would, on whichever worker runs it.
            async_io::Timer::after(Duration::from_millis(1)).await;
            panic!("handler bug");
        }
        Response::new(StatusCode::Ok)
    }
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_keeps_serving() {
    let mut config = test_config();
    config.threads = std::num::NonZeroUsize::new(2);
    let server = TestServer::start_with(config, Fragile);
    // More panics than worker threads: had one killed a worker, the server would
    // stop answering.
    for _ in 0..8 {
        let mut client = server.client();
        let response = client.get("/panic");
        assert_eq!(response.status, 500);
        assert_eq!(response.json()["error"], "internal server error");
        assert!(response.says_close());
        assert!(client.is_closed());
        assert_eq!(server.client().get("/fine").status, 200);
    }
}
