//! smol-toy: `GET /toy` waits one second and answers `{"result":1}`, served by a
//! smol executor on a thread pool with async-h1 parsing HTTP/1.x.
//!
//! A protocol turns bytes into requests and responses into bytes; everything else is
//! shared. Layers, top to bottom; a module imports only those below it:
//! - `main.rs`, [`config`] (the command line, turned into [`ServerOptions`] and
//!   [`ListenOptions`]), [`healthcheck`], [`signals`].
//! - `server`: the worker threads, the listeners and accept loop, the PROXY
//!   protocol, what is done with a socket before its protocol (`setup`), the drain.
//! - `tls`: HTTPS with rustls, as an [`Acceptor`] that wraps the socket.
//! - `http1`: the HTTP/1.x protocol around async-h1: bytes into requests, answers
//!   into bytes, and the connection's state.
//! - `shared`: what every connection of a server shares ([`Limits`], the shutdown
//!   switches, the wheels, the metrics, the access log's settings).
//! - `exchange`: one request's life after its protocol has read it: dispatch by
//!   route (OPTIONS, 404, 405, 501), request ids, the client behind proxies, the
//!   access log, the exchange's metrics, error answers, the fields every answer
//!   carries.
//! - `app`: the service ([`Toy`]), through the contract in [`handler`]: a request
//!   and a [`Context`] in, a response out.
//! - `metrics`, [`logging`], `memory`, `timing_wheel`, `shutdown`, `connection` (why a
//!   connection ended), `transport` (sockets, peers, [`Acceptor`]).
//! - `testing` (with the `testing` feature only): in-memory connections, test
//!   streams and the bounds the tests check, for the tests, the benchmarks and the
//!   fuzzer.

#![forbid(unsafe_code)]

mod app;
pub mod config;
mod connection;
mod exchange;
pub mod handler;
pub mod healthcheck;
mod http1;
mod http2;
pub mod logging;
mod memory;
mod metrics;
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
    ListenError, ListenOptions, Listener, Listeners, Listening, ServerOptions, SocketFile, Stopped,
    bind, listen, run, run_with_acceptor,
};
pub use shared::Limits;
pub use shutdown::Shutdown;
pub use tls::{CertificateError, CertificateFiles, TlsAcceptor};
pub use transport::{Acceptor, Peer, PlainHttp, Security, Socket};
