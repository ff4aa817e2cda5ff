//! smol-toy: `GET /toy` waits one second and answers `{"result":1}`, served by a
//! smol executor on a thread pool with async-h1 parsing HTTP/1.x.
//!
//! Dependencies run one way: the application (`app`) implements the contract in
//! [`handler`]; the protocol layer (`connection`) serves any [`Handler`] over any
//! byte stream and knows neither the application nor the command line; the server
//! (`server`) runs the protocol layer with the options of [`config`].
//!
//! - [`config`]: the options, from flags and environment variables.
//! - `app`: what the service answers (`/toy`, `/healthz`, `/readyz`, `/metrics`).
//! - [`handler`]: the [`Handler`] trait and the response helpers an application uses.
//! - `connection`: the HTTP/1.x connection layer around async-h1.
//! - `metrics`: what the server counts, for Prometheus; [`logging`]: text or JSON lines.
//! - `server`: the worker threads, the listeners and accept loop, the PROXY
//!   protocol, the drain.
//! - `tls`: HTTPS with rustls: the handshake, the certificate and its reload.
//! - `shutdown` and [`signals`]: starting a graceful shutdown.
//! - `deadlines`: the connections' timeouts, on a coarse timing wheel.
//! - `testing` (with the `testing` feature only): in-memory connections and test
//!   streams for the tests, the benchmarks and the fuzzer.

#![forbid(unsafe_code)]

mod app;
pub mod config;
mod connection;
mod exchange;
pub mod handler;
pub mod healthcheck;
mod http1;
pub mod logging;
mod metrics;
mod server;
mod shared;
mod shutdown;
pub mod signals;
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
pub use http1::MAX_FIELD_LINE;
pub use metrics::Metrics;
pub use server::{
    ListenError, Listener, Listeners, Listening, SocketFile, Stopped, V1_MAX_LEN, V2_MAX_PAYLOAD,
    bind, listen, run, run_with_acceptor,
};
pub use shared::Limits;
pub use shutdown::Shutdown;
pub use timing_wheel::TimingWheel;
pub use tls::{CertificateError, CertificateFiles, MaybeTls, Summary, TlsAcceptor, TlsStream};
pub use transport::{Acceptor, Peer, PlainHttp, Security, Socket};
