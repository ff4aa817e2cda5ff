//! The application: which paths exist, which methods they take, and what they answer.

use std::future::Future;
use std::time::Duration;

use async_io::Timer;
use http_types::{Body, Method, Request, Response, StatusCode, mime};

/// What the connection layer needs from an application.
///
/// The connection layer answers `OPTIONS`, unknown paths (404) and disallowed methods
/// (405 with `Allow`) itself; `respond` sees only requests whose path and method
/// `allowed_methods` accepted.
pub trait Handler: Send + Sync + 'static {
    /// The methods `path` answers to, or `None` when the path does not exist.
    fn allowed_methods(&self, path: &str) -> Option<&'static [Method]>;

    /// Answers a request to an existing path with an allowed method.
    fn respond(&self, request: Request) -> impl Future<Output = Response> + Send;
}

/// The smol-toy service: `/toy` and `/healthz`.
#[derive(Debug, Clone)]
pub struct Toy {
    delay: Duration,
    toy_body: Vec<u8>,
    health_body: Vec<u8>,
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
    fn allowed_methods(&self, path: &str) -> Option<&'static [Method]> {
        match path {
            "/toy" | "/healthz" => Some(READ_ONLY),
            _ => None,
        }
    }

    async fn respond(&self, request: Request) -> Response {
        match request.url().path() {
            "/toy" => {
                // The whole point: waiting here holds a timer, not a thread.
                Timer::after(self.delay).await;
                json_response(StatusCode::Ok, self.toy_body.clone())
            }
            "/healthz" => json_response(StatusCode::Ok, self.health_body.clone()),
            // `allowed_methods` let no other path through.
            _ => json_response(StatusCode::NotFound, error_body(StatusCode::NotFound, None)),
        }
    }
}

/// A response with a JSON body.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(status);
    let mut body = Body::from_bytes(body);
    body.set_mime(mime::JSON);
    response.set_body(body);
    response
}

/// The JSON body of an error response: `{"error":"not found"}`, with a `detail`
/// member when there is more to say.
pub fn error_body(status: StatusCode, detail: Option<&str>) -> Vec<u8> {
    let error = status.canonical_reason().to_ascii_lowercase();
    let value = match detail {
        Some(detail) => serde_json::json!({ "error": error, "detail": detail }),
        None => serde_json::json!({ "error": error }),
    };
    serde_json::to_vec(&value).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        Request::new(Method::Get, format!("http://localhost{path}").as_str())
    }

    #[test]
    fn toy_waits_then_answers_result_1() {
        let toy = Toy::new(Duration::from_millis(50));
        let started = std::time::Instant::now();
        let mut response = smol::block_on(toy.respond(get("/toy")));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(response.status(), StatusCode::Ok);
        assert_eq!(response.content_type(), Some(mime::JSON));
        let body = smol::block_on(response.body_string()).unwrap();
        assert_eq!(body, r#"{"result":1}"#);
    }

    #[test]
    fn only_toy_and_healthz_exist() {
        let toy = Toy::new(Duration::ZERO);
        assert_eq!(toy.allowed_methods("/toy"), Some(READ_ONLY));
        assert_eq!(toy.allowed_methods("/healthz"), Some(READ_ONLY));
        assert_eq!(toy.allowed_methods("/toy/"), None);
        assert_eq!(toy.allowed_methods("/"), None);
    }

    #[test]
    fn error_bodies_name_the_status() {
        assert_eq!(
            error_body(StatusCode::NotFound, None),
            br#"{"error":"not found"}"#
        );
        assert_eq!(
            error_body(StatusCode::BadRequest, Some("Host header is missing")),
            br#"{"detail":"Host header is missing","error":"bad request"}"#
        );
    }
}
