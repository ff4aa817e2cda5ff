//! The access log: one line per answered request, under the `smol_toy::access`
//! target. Its text is the message; its fields are also attached as key-values, which
//! the JSON log format writes as the object's fields.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http_types::{Request, Version};
use log::{Level, info, log_enabled};

use super::client::TrustedProxies;
use super::method::RequestMethod;
use super::request_id::RequestId;
use crate::transport::{Peer, Security};

/// The log target of access lines.
pub const TARGET: &str = "smol_toy::access";

/// The access log's settings. The server holds them only while access
/// lines are on, and copies nothing out of requests for the log otherwise.
#[derive(Debug, Clone)]
pub struct AccessLog {
    trusted_proxies: TrustedProxies,
}

impl AccessLog {
    /// The settings, or `None` when the log filter (`RUST_LOG`) leaves access lines out.
    pub fn if_enabled(trusted_proxies: TrustedProxies) -> Option<Self> {
        log_enabled!(target: TARGET, Level::Info).then_some(AccessLog { trusted_proxies })
    }

    /// What the line will say about `request`, which came from `peer`; read before
    /// the handler takes the request.
    pub fn describe(&self, request: &Request, peer: &Peer, security: Security) -> LoggedRequest {
        let values = |name| request.header(name).into_iter().flatten();
        // The proxy headers are looked up only when the peer is a trusted proxy.
        let client = if self.trusted_proxies.trusts(peer) {
            let forwarded_for = values("x-forwarded-for").map(|value| value.as_str());
            let real_ip = values("x-real-ip").last().map(|value| value.as_str());
            self.trusted_proxies.client(peer, forwarded_for, real_ip)
        } else {
            peer.ip()
        };
        LoggedRequest {
            client,
            path: request.url().path().into(),
            version: match request.version() {
                Some(Version::Http1_0) => "HTTP/1.0",
                Some(Version::Http2_0) => "HTTP/2.0",
                Some(Version::Http3_0) => "HTTP/3",
                _ => "HTTP/1.1",
            },
            user_agent: request
                .header("user-agent")
                .map(|values| values.last().as_str().into()),
            tls: security.tls_version(),
        }
    }

    /// What the line says about a request that could not be read.
    pub fn unreadable(peer: &Peer, security: Security) -> LoggedRequest {
        LoggedRequest {
            client: peer.ip(),
            path: "-".into(),
            version: "-",
            user_agent: None,
            tls: security.tls_version(),
        }
    }
}

/// What an access line says about a request besides its method and id.
#[derive(Debug)]
pub struct LoggedRequest {
    /// `None` for a client on a Unix socket.
    client: Option<IpAddr>,
    path: Box<str>,
    version: &'static str,
    user_agent: Option<Box<str>>,
    /// The TLS version, over HTTPS.
    tls: Option<&'static str>,
}

/// What an access line says about the response.
pub struct Outcome {
    pub status: u16,
    /// The body's bytes sent, as nginx's `$body_bytes_sent` counts them: none for
    /// HEAD, whatever the protocol.
    pub body_bytes: usize,
    /// From the head's arrival until the response was handed to the connection.
    pub duration: Duration,
}

/// Logs the line:
/// `CLIENT PEER "METHOD PATH VERSION" STATUS BODY-BYTES MILLISECONDSms REQUEST-ID "USER-AGENT"`,
/// then ` https` over TLS. PEER is the socket's peer: behind a PROXY protocol
/// header, the proxy, while CLIENT is the client the header named.
/// Values from the client are escaped, so that no request can forge a line.
pub fn log(
    request: &LoggedRequest,
    method: Option<&RequestMethod>,
    request_id: &RequestId,
    peer: &Peer,
    outcome: &Outcome,
) {
    let method: &dyn std::fmt::Display = match method {
        Some(method) => method,
        None => &"-",
    };
    let duration_ms = (outcome.duration.as_secs_f64() * 1e6).round() / 1e3;
    let user_agent = request.user_agent.as_deref();
    // The socket's peer: the balancer, behind a PROXY protocol header.
    let peer = peer.socket_peer();
    info!(
        target: TARGET,
        client:% = Client(request.client),
        peer:% = peer,
        method:% = method,
        path = &*request.path,
        version = request.version,
        status = outcome.status,
        bytes = outcome.body_bytes,
        duration_ms = duration_ms,
        request_id = request_id.as_str(),
        user_agent = user_agent,
        tls = request.tls;
        "{} {} \"{} {} {}\" {} {} {:.3}ms {} \"{}\"{}",
        Client(request.client),
        peer,
        method,
        request.path.escape_debug(),
        request.version,
        outcome.status,
        outcome.body_bytes,
        duration_ms,
        request_id.as_str(),
        user_agent.unwrap_or("-").escape_debug(),
        if request.tls.is_some() { " https" } else { "" }
    );
}

/// The client as the line shows it: its address, or `unix`.
struct Client(Option<IpAddr>);

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unix"),
        }
    }
}
