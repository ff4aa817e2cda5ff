//! What connections are served over, below every protocol: the sockets the server
//! accepts ([`Socket`]), who is at the other end and what the stream is ([`Peer`],
//! [`Security`]), and what makes a socket into the stream a protocol reads
//! ([`Acceptor`]: the socket itself, or TLS over it).

mod acceptor;
mod peer;
mod socket;

pub use acceptor::{Acceptor, PlainHttp};
pub use peer::{Peer, Security};
pub use socket::Socket;
