//! HTTP/3 (RFC 9114) over QUIC: h3 frames, quinn carries. What is written here
//! only frames; a request's life is the one every stream protocol shares
//! (`streams`, `shared`, `exchange`). Its files: `docs/architecture.md`.

mod conn;
pub(crate) mod frame_cap;
mod handshake;
mod head;
mod quic_stream;
mod state;
mod stream;
mod transport;

pub use conn::serve;
