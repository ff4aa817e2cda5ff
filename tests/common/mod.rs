//! The tests' one harness: an in-process server on a listener already bound to
//! 127.0.0.1:0 (here), a client that sends raw bytes and reads raw responses
//! (`client`), and the built binary run as a user runs it (`binary`).

// Each test file uses a part of the harness.
#![allow(dead_code)]

pub mod binary;
pub mod client;

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::thread::JoinHandle;
use std::time::Duration;

use smol_toy::{Config, Handler, Shutdown, Stopped, Toy};

use client::Client;

/// A configuration for tests: loopback, two threads, a short /toy delay.
pub fn test_config() -> Config {
    Config {
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        threads: NonZeroUsize::new(2),
        delay: Duration::from_millis(10).into(),
        ..Config::default()
    }
}

/// A server running on its own thread until it is shut down or dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<io::Result<Stopped>>>,
}

impl TestServer {
    /// Serves the toy application.
    pub fn start(config: Config) -> Self {
        let handler = Toy::new(*config.delay);
        Self::start_with(config, handler)
    }

    /// Serves any handler.
    pub fn start_with<H: Handler>(config: Config, handler: H) -> Self {
        let listener = smol_toy::bind("127.0.0.1:0".parse().unwrap(), config.backlog)
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let thread = std::thread::spawn({
            let shutdown = shutdown.clone();
            move || {
                let listening = smol_toy::Listening {
                    listener: smol_toy::Listener::Tcp(listener),
                    inherited: false,
                };
                smol_toy::run(vec![listening], &config, handler, shutdown)
            }
        });
        TestServer {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Starts the graceful shutdown.
    pub fn shutdown(&self) {
        self.shutdown.trigger();
    }

    /// Shuts down and waits for `run` to return.
    pub fn stop(mut self) -> Stopped {
        self.shutdown.trigger();
        let thread = self.thread.take().unwrap();
        thread.join().expect("server thread").expect("server run")
    }

    /// A connected client.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
