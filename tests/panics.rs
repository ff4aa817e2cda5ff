//! A panicking handler costs its request a 500, never a worker thread; so does a
//! response the connection layer cannot write as it is.

mod common;

use std::time::Duration;

use common::{TestServer, test_config};
use http_types::{Method, Request, Response, StatusCode};
use smol_toy::{Context, Handler, Route};

struct Fragile;

/// What goes wrong on a path.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Panic,
    SplitField,
    None,
}

impl Handler for Fragile {
    type Endpoint = Fault;

    const ROUTES: &'static [Route<Fault>] = &[
        Route {
            path: "/panic",
            endpoint: Fault::Panic,
            methods: &[Method::Get],
        },
        Route {
            path: "/split",
            endpoint: Fault::SplitField,
            methods: &[Method::Get],
        },
        Route {
            path: "/fine",
            endpoint: Fault::None,
            methods: &[Method::Get],
        },
    ];

    async fn respond(&self, fault: Fault, _request: Request, _: Context<'_>) -> Response {
        let mut response = Response::new(StatusCode::Ok);
        match fault {
            Fault::Panic => {
                // Panic after an await, as a real handler would, on whichever worker
                // runs it.
                async_io::Timer::after(Duration::from_millis(1)).await;
                panic!("handler bug");
            }
            // A value that would end the field early and add one of its own.
            Fault::SplitField => {
                response.insert_header("x-note", "a\r\nset-cookie: forged=1");
            }
            Fault::None => {}
        }
        response
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

#[test]
fn a_field_that_would_split_the_head_gets_500_not_a_forged_field() {
    let server = TestServer::start_with(test_config(), Fragile);
    let mut client = server.client();
    let response = client.get("/split");
    assert_eq!(response.status, 500);
    assert_eq!(response.header("set-cookie"), None);
    assert_eq!(response.header("x-note"), None);
    assert!(response.says_close());
    assert!(client.is_closed());
    assert_eq!(server.client().get("/fine").status, 200);
}
