//! The HTTP/1.x connection layer: it knows the [`Handler`] contract, never the
//! application or the command line, and serves any byte stream
//! (`AsyncRead + AsyncWrite`).
//!
//! async-h1 parses request heads; this layer owns everything around them, and writes
//! the responses. Requests pipelined on a connection are read ahead (up to 16), their
//! handlers run together, and their answers go out in order. It enforces the head
//! size limit while the head arrives, the header, keep-alive and write timeouts,
//! HTTP/1.0 and keep-alive rules, and answers every request it cannot serve with a
//! status line and a JSON body before it closes.
//!
//! Top to bottom; a file imports only those below it:
//! - [`conn`]: the connection loop: start the requests read, wait for an answer or
//!   input, encode and write the answers. The only file with `Connection`'s methods.
//! - [`state`]: every decision: whether the connection reads more, how long it
//!   waits for input or a body, whether it goes on after an answer, and if not, why.
//! - [`pipeline`]: the requests read and not yet answered.
//! - [`io`]: reads and writes, and the write policy.
//! - [`encode`]: responses into bytes.
//! - [`head`]: reading a request head (scan, request line, field rules, async-h1).
//! - [`error`]: what each refused request gets, and why its connection closes.
//!
//! Who answers a request, its id, its client, its record in the metrics and the
//! access log, and the fields every answer carries are the exchange layer's
//! (`crate::exchange`), shared with any other protocol.

mod conn;
mod encode;

mod head;
mod io;
mod pipeline;
mod state;

pub use conn::serve;
#[cfg(any(test, feature = "testing"))]
pub use head::MAX_FIELD_LINE;
