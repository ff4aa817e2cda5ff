//! The tests' one harness: an in-process server on a listener already bound to
//! 127.0.0.1:0 (here), a client that sends raw bytes and reads raw responses
//! (`client`), and the built binary run as a user runs it (`binary`).

// Each test file uses a part of the harness.
#![allow(dead_code)]

pub mod binary;
pub mod certs;
pub mod client;
pub mod h2_client;
pub mod h3_client;

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::thread::JoinHandle;
use std::time::Duration;

use std::sync::Arc;

use rustls::ClientConfig;
use smol_toy::testing::SmallReadsAcceptor;
use smol_toy::{Acceptor, Config, Handler, PlainHttp, Shutdown, Stopped, TlsAcceptor, Toy};

use certs::TestCa;
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

/// What the test server serves its connections over.
#[derive(Debug, Clone, Copy)]
pub enum Streams {
    /// The accepted sockets, as the binary does.
    Sockets,
    /// `SmallReads` over each socket: a stream that buffers what it reads, as TLS
    /// does, and hands out at most 100 bytes per read.
    SmallReads,
    /// HTTPS, with a certificate from a test CA its clients trust.
    Tls,
}

/// Runs the tests inside three times, as `over_sockets::…`, `over_small_reads::…`
/// and `over_tls::…`,
/// with `start(config)` starting the server over the streams at hand.
#[allow(unused_macros)]
macro_rules! over_each_stream {
    ($($item:item)*) => {
        mod over_sockets {
            #[allow(unused_imports)]
            use super::*;
            fn start(config: smol_toy::Config) -> common::TestServer {
                common::TestServer::start_over(config, common::Streams::Sockets)
            }
            $($item)*
        }
        mod over_small_reads {
            #[allow(unused_imports)]
            use super::*;
            fn start(config: smol_toy::Config) -> common::TestServer {
                common::TestServer::start_over(config, common::Streams::SmallReads)
            }
            $($item)*
        }
        mod over_tls {
            #[allow(unused_imports)]
            use super::*;
            fn start(config: smol_toy::Config) -> common::TestServer {
                common::TestServer::start_over(config, common::Streams::Tls)
            }
            $($item)*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use over_each_stream;

/// A response read from a stream protocol's client (h2's, h3's): its head and its
/// whole body.
pub struct StreamResponse {
    pub head: http::response::Parts,
    pub body: bytes::Bytes,
}

impl StreamResponse {
    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The value of the sample `name` (with its labels, if any) in a scrape.
pub fn sample(metrics: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
        .parse()
        .unwrap()
}

/// A TCP listener on 127.0.0.1, and with `udp` a UDP socket on its port: tried
/// on new ports until one is free for both.
fn bind_listeners(backlog: u32, udp: bool) -> (SocketAddr, Vec<smol_toy::Listening>) {
    for _ in 0..50 {
        let listener =
            smol_toy::bind("127.0.0.1:0".parse().unwrap(), backlog).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let mut listening = vec![smol_toy::Listening {
            listener: smol_toy::Listener::Tcp(listener),
            inherited: false,
        }];
        if udp {
            // A client's UDP socket may hold the port already.
            let Ok(socket) = smol_toy::bind_udp(addr) else {
                continue;
            };
            listening.push(smol_toy::Listening {
                listener: smol_toy::Listener::Udp(socket),
                inherited: false,
            });
        }
        return (addr, listening);
    }
    panic!("no port free for both TCP and UDP");
}

/// A server running on its own thread until it is shut down or dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<io::Result<Stopped>>>,
    /// Over HTTPS: the CA, and the configuration its clients connect with.
    tls: Option<(TestCa, Arc<ClientConfig>)>,
}

impl TestServer {
    /// Serves the toy application.
    pub fn start(config: Config) -> Self {
        Self::start_over(config, Streams::Sockets)
    }

    /// Serves the toy application over `streams`.
    pub fn start_over(config: Config, streams: Streams) -> Self {
        match streams {
            Streams::Sockets => Self::start_with_acceptor(config, PlainHttp),
            Streams::SmallReads => Self::start_with_acceptor(config, SmallReadsAcceptor),
            Streams::Tls => Self::start_tls(config).0,
        }
    }

    /// Serves the toy application over HTTPS; returns the server and its
    /// certificate authority. Its clients trust the CA, and offer http/1.1 alone by
    /// ALPN, as an HTTP/1.1 client does.
    pub fn start_tls(config: Config) -> (Self, TlsAcceptor) {
        let ca = TestCa::new();
        let leaf = ca.leaf("smol-toy-test");
        let acceptor = TlsAcceptor::new(leaf.files).expect("the test certificate loads");
        let mut server = Self::start_with_acceptor(config, Some(acceptor.clone()));
        let client_config = ca.client_config(&[b"http/1.1"]);
        server.tls = Some((ca, client_config));
        (server, acceptor)
    }

    /// Serves the toy application over HTTPS and HTTP/3 (a UDP socket on the TCP
    /// listener's port); returns the server and its acceptor.
    pub fn start_http3(config: Config) -> (Self, TlsAcceptor) {
        let ca = TestCa::new();
        let leaf = ca.leaf("smol-toy-test");
        let acceptor = TlsAcceptor::new(leaf.files).expect("the test certificate loads");
        let handler = Toy::new(*config.delay);
        let mut server = Self::serve_on(config, handler, Some(acceptor.clone()), true);
        let client_config = ca.client_config(&[b"http/1.1"]);
        server.tls = Some((ca, client_config));
        (server, acceptor)
    }

    /// The CA of an HTTPS server.
    pub fn ca(&self) -> &TestCa {
        &self.tls.as_ref().expect("an HTTPS server").0
    }

    /// Serves any handler.
    pub fn start_with<H: Handler>(config: Config, handler: H) -> Self {
        Self::serve(config, handler, PlainHttp)
    }

    /// Serves the toy application, each connection over the stream `acceptor` makes.
    pub fn start_with_acceptor<A: Acceptor>(config: Config, acceptor: A) -> Self {
        let handler = Toy::new(*config.delay);
        Self::serve(config, handler, acceptor)
    }

    fn serve<H: Handler, A: Acceptor>(config: Config, handler: H, acceptor: A) -> Self {
        Self::serve_on(config, handler, acceptor, false)
    }

    /// Serves on a TCP listener on 127.0.0.1, and with `udp` a UDP socket on its
    /// port.
    fn serve_on<H: Handler, A: Acceptor>(
        config: Config,
        handler: H,
        acceptor: A,
        udp: bool,
    ) -> Self {
        let (addr, listening) = bind_listeners(config.backlog, udp);
        let shutdown = Shutdown::new();
        let thread = std::thread::spawn({
            let shutdown = shutdown.clone();
            move || {
                smol_toy::run_with_acceptor(
                    listening,
                    &config.server_options(),
                    handler,
                    acceptor,
                    shutdown,
                )
            }
        });
        TestServer {
            addr,
            shutdown,
            thread: Some(thread),
            tls: None,
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

    /// `/metrics` once it holds `line`, or after 2 s: a connection is counted as
    /// closed just after its socket closes, so a client can see the close first.
    pub fn metrics_with(&self, line: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let metrics = self.client().get("/metrics").body_text();
            if metrics.contains(line) || std::time::Instant::now() > deadline {
                return metrics;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A scrape of `/metrics`, over HTTP/1.1 (over HTTPS for an HTTPS server).
    pub fn metrics(&self) -> String {
        self.client().get("/metrics").body_text()
    }

    /// A connected client; over HTTPS, with the handshake done.
    pub fn client(&self) -> Client {
        match &self.tls {
            None => Client::connect(self.addr),
            Some((_, config)) => Client::connect_tls(self.addr, config).expect("TLS handshake"),
        }
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
