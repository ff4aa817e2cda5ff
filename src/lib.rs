//! smol-toy: `GET /toy` waits one second and answers `{"result":1}`, served by a
//! smol executor on a thread pool: async-h1 parsing HTTP/1.x, h2 speaking HTTP/2.
//!
//! A protocol turns bytes into requests and responses into bytes; a request's
//! whole life besides is written once, below the protocols. The map of the
//! modules, file by file and layer by layer, is `docs/architecture.md`: the one
//! place it is written.

#![forbid(unsafe_code)]

mod app;
pub mod config;
mod connection;
mod exchange;
pub mod handler;
pub mod healthcheck;
mod http1;
mod http2;
mod http3;
pub mod logging;
mod memory;
mod metrics;
mod quic;
mod server;
mod shared;
mod shutdown;
pub mod signals;
mod streams;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
mod timing_wheel;
mod tls;
mod transport;

pub use app::Toy;
pub use config::{Config, Subcommand};
pub use exchange::TrustedProxies;
pub use handler::{Context, Handler, ResponseField, Route};
pub use server::{
    ListenError, ListenOptions, Listener, Listeners, Listening, Retry, ServerOptions, SocketFile,
    Stopped, bind, bind_udp, listen, run, run_with_acceptor,
};
pub use shared::Limits;
pub use shutdown::Shutdown;
pub use tls::{CertificateError, CertificateFiles, TlsAcceptor};
pub use transport::{Acceptor, Peer, PlainHttp, Security, Socket};
