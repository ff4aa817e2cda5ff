//! smol-toy: `GET /toy` waits one second and answers `{"result":1}`, served by a
//! smol executor on a thread pool with async-h1 parsing HTTP/1.x.
//!
//! - [`config`]: the options, from flags and environment variables.
//! - [`routes`]: the application (`/toy`, `/healthz`) and the [`routes::Handler`] trait.
//! - [`connection`]: the HTTP/1.x connection layer around async-h1.
//! - [`server`]: the listener, the accept loop, the worker threads, the drain.
//! - [`shutdown`] and [`signals`]: starting a graceful shutdown.

#![forbid(unsafe_code)]

pub mod config;
pub mod connection;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod signals;

pub use config::Config;
pub use routes::{Handler, Toy};
pub use server::{Stopped, bind, run};
pub use shutdown::Shutdown;
