//! The HTTP/2 protocol around the h2 crate, over TLS (ALPN `h2`) or in cleartext
//! by prior knowledge: a connection whose first bytes are the preface.
//!
//! h2 reads and writes frames, keeps each stream's state and flow control, and
//! applies HTTP/2's own rules to a request (pseudo-header fields, no
//! connection-specific fields). It runs on smol through tokio-util's `compat`
//! adapter: tokio's I/O traits, no tokio runtime. This folder frames: h2's set-up,
//! its stream handles for the answer every stream protocol shares (`streams`), the
//! connection's state (its timeouts in HTTP/2's terms, GOAWAY, the floods h2 does
//! not end itself), and the stream h2 reads, watched on the way. Its files, top to
//! bottom: `docs/architecture.md`.

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
