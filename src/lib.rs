//! smol-toy: `GET /toy` waits one second and answers `{"result":1}`, served by a
//! smol executor on a thread pool with async-h1 parsing HTTP/1.x.
//!
//! Dependencies run one way: the application ([`app`]) implements the contract in
//! [`handler`]; the protocol layer ([`connection`]) serves any [`Handler`] and knows
//! neither the application nor the command line; the [`server`] runs the protocol
//! layer with the options of [`config`].
//!
//! - [`config`]: the options, from flags and environment variables.
//! - [`app`]: what the service answers (`/toy`, `/healthz`).
//! - [`handler`]: the [`Handler`] trait and the response helpers an application uses.
//! - [`connection`]: the HTTP/1.x connection layer around async-h1.
//! - [`metrics`]: what the server counts, for Prometheus; [`logging`]: text or JSON lines.
//! - [`server`]: the worker threads, the listener and accept loop, the drain.
//! - [`shutdown`] and [`signals`]: starting a graceful shutdown.
//! - [`deadlines`]: the connections' timeouts, on a coarse timing wheel.

#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod connection;
pub mod deadlines;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod shutdown;
pub mod signals;
#[doc(hidden)]
pub mod testing;

pub use app::Toy;
pub use config::Config;
pub use handler::{Handler, Route, ServerState};
pub use server::{Listener, Listeners, Listening, Stopped, bind, listen, run};
pub use shutdown::Shutdown;
