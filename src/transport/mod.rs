//! What connections are served over, below every protocol, and naming none: the
//! sockets the server accepts, who is at the other end and what the stream is,
//! what makes a socket into the stream a protocol reads ([`Acceptor`]: the socket
//! itself, or TLS over it), a stream whose first bytes are read again
//! ([`Rewind`]), and reads through the thread's buffer. Its files:
//! `docs/architecture.md`.

mod acceptor;
mod peer;
mod rewind;
pub mod scratch;
mod socket;

pub use acceptor::{Acceptor, PlainHttp};
pub use peer::{Peer, Security};
pub use rewind::Rewind;
pub use socket::Socket;
