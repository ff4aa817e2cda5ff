//! The application: what smol-toy answers on `/toy` and `/healthz`.

use std::time::Duration;

use async_io::Timer;
use http_types::{Method, Request, Response, StatusCode};

use crate::handler::{Handler, Route, json_response};

/// The smol-toy service: `/toy` and `/healthz`.
#[derive(Debug, Clone)]
pub struct Toy {
    delay: Duration,
    toy_body: Vec<u8>,
    health_body: Vec<u8>,
}

/// The paths [`Toy`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/toy`: waits, then answers `{"result":1}`.
    Toy,
    /// `/healthz`: answers `{"status":"ok"}` at once.
    Health,
}

/// The methods both routes take.
const READ_ONLY: &[Method] = &[Method::Get, Method::Head];

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
        }
    }
}

impl Handler for Toy {
    type Endpoint = Endpoint;

    fn route(&self, path: &str) -> Option<Route<Endpoint>> {
        let endpoint = match path {
            "/toy" => Endpoint::Toy,
            "/healthz" => Endpoint::Health,
            _ => return None,
        };
        Some(Route {
            endpoint,
            methods: READ_ONLY,
        })
    }

    async fn respond(&self, endpoint: Endpoint, _request: Request) -> Response {
        match endpoint {
            Endpoint::Toy => {
                // The whole point: waiting here holds a timer, not a thread.
                Timer::after(self.delay).await;
                json_response(StatusCode::Ok, self.toy_body.clone())
            }
            Endpoint::Health => json_response(StatusCode::Ok, self.health_body.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_types::mime;

    fn get(path: &str) -> Request {
        Request::new(Method::Get, format!("http://localhost{path}").as_str())
    }

    #[test]
    fn toy_waits_then_answers_result_1() {
        let toy = Toy::new(Duration::from_millis(50));
        let started = std::time::Instant::now();
        let mut response = smol::block_on(toy.respond(Endpoint::Toy, get("/toy")));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(response.status(), StatusCode::Ok);
        assert_eq!(response.content_type(), Some(mime::JSON));
        let body = smol::block_on(response.body_string()).unwrap();
        assert_eq!(body, r#"{"result":1}"#);
    }

    #[test]
    fn only_toy_and_healthz_exist() {
        let toy = Toy::new(Duration::ZERO);
        let endpoint = |path| toy.route(path).map(|route| route.endpoint);
        assert_eq!(endpoint("/toy"), Some(Endpoint::Toy));
        assert_eq!(endpoint("/healthz"), Some(Endpoint::Health));
        assert_eq!(endpoint("/toy/"), None);
        assert_eq!(endpoint("/"), None);
        assert_eq!(toy.route("/toy").unwrap().methods, READ_ONLY);
    }
}
