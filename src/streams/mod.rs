//! What the protocols that carry each request on a stream of its own share:
//! HTTP/2 now, HTTP/3 next. Their libraries (h2, h3) hand over an `http::Request`
//! per stream and take an `http::Response`; a connection's streams are answered
//! together in its task.
//!
//! Top to bottom; a file imports only those below it:
//! - [`rounds`]: a connection's streams answered together, in rounds, as its
//!   protocol takes them up.
//! - [`stream`]: one stream, from request to answer, over the small contract a
//!   protocol's stream implements ([`stream::RequestStream`]).
//! - [`request`]: a stream's request, checked by every protocol's field rules.
//! - [`response`]: an answer into what the library sends.
//!
//! A protocol folder writes the rest: its framing and its library's set-up, its
//! connection's state (deadlines, floods, how it ends), and the
//! [`stream::RequestStream`] of its library's stream handles.

pub mod request;
pub mod response;
pub mod rounds;
pub mod stream;
