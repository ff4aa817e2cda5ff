//! The HTTP/1.x protocol around async-h1: it knows the [`Handler`] contract, never
//! the application or the command line, and serves any byte stream
//! (`AsyncRead + AsyncWrite`).
//!
//! async-h1 parses request heads; this layer owns everything around them, and writes
//! the responses. Requests pipelined on a connection are read ahead (up to 16), their
//! handlers run together, and their answers go out in order. It enforces the head
//! size limit while the head arrives, the header, keep-alive and write timeouts,
//! HTTP/1.0 and keep-alive rules, and closes the connection after a refused request.
//! Its files, top to bottom: `docs/architecture.md`.
//!
//! [`Handler`]: crate::Handler

mod conn;
mod encode;

mod head;
mod io;
mod pipeline;
mod state;

pub use conn::serve;
#[cfg(any(test, feature = "testing"))]
pub use head::MAX_FIELD_LINE;
