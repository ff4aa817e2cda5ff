//! The HTTP/2 protocol around the h2 crate, over TLS (ALPN `h2`) or in cleartext
//! by prior knowledge: a connection whose first bytes are the preface.
//!
//! h2 reads and writes frames, keeps each stream's state and flow control, and
//! applies HTTP/2's own rules to a request (pseudo-header fields, no
//! connection-specific fields). It runs on smol through tokio-util's `compat`
//! adapter: tokio's I/O traits, no tokio runtime. This layer owns the rest: the
//! streams' answers run together in the connection's task, through the same
//! exchange layer and application contract as HTTP/1's; the timeouts in HTTP/2's
//! terms; GOAWAY at shutdown; the floods h2 does not end itself.
//!
//! Top to bottom; a file imports only those below it:
//! - [`conn`]: the connection loop: take up streams, run their answers, decide when
//!   the connection ends.
//! - [`stream`]: one stream, from request to answer.
//! - [`flood`]: when a connection abuses the protocol.
//! - [`request`]: a stream's request, checked by every protocol's field rules.
//! - [`response`]: a response into what h2 sends.
//! - [`handshake`]: the client's preface, checked before h2 starts; h2's settings.
//! - [`io`]: the stream h2 reads and writes, watched on the way; the linger after.

mod conn;
mod flood;
mod handshake;
mod io;
mod state;
mod stream;

pub use conn::serve;
pub use handshake::refuse_preface;

/// What every HTTP/2 connection starts with (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
