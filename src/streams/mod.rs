//! What the protocols that carry each request on a stream of its own share:
//! HTTP/2 now, HTTP/3 next. Their libraries (h2, h3) hand over an `http::Request`
//! per stream and take an `http::Response`; a connection's streams are answered
//! together in its task, in rounds. A protocol folder writes its framing, its
//! connection's state, and the small contract of its library's stream handles
//! (`stream::RequestStream`). Its files: `docs/architecture.md`.

pub mod request;
pub mod response;
pub mod rounds;
pub mod stream;
