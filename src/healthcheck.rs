//! `smol-toy healthcheck`: asks a running server for `GET /healthz`, for container
//! health checks (an image built from scratch has no curl).
//!
//! The address comes from the same options as the server's: `--unix-socket`, else
//! `--host` and `--port`, where an unspecified host (`0.0.0.0`, `::`) means loopback.
//! With `--tls-cert` the check speaks HTTPS and trusts exactly that certificate: the
//! server must present the leaf the file holds. With `--proxy-protocol` it starts
//! with a v2 `LOCAL` header, as a balancer's check does, if the address it connects
//! from is one of `--trusted-proxies`. Blocking I/O is enough for one request; every
//! step shares one deadline.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ppp::v2;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::Config;
use crate::tls::{CertificateError, crypto_provider, read_leaf};
use crate::transport::Peer;

/// How long the whole check may take: connecting, the handshake, the answer.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the server is not healthy, in one line.
#[derive(Debug)]
pub enum Unhealthy {
    /// Nothing answered at the address.
    Unreachable { address: String, error: io::Error },
    /// The deadline passed.
    TimedOut { address: String },
    /// The configured certificate could not be read.
    Certificate(CertificateError),
    /// The connection failed after it was made (TLS refused, closed early, garbage).
    Failed { address: String, why: String },
    /// The server answered something other than 200.
    Status {
        address: String,
        status_line: String,
    },
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unhealthy::Unreachable { address, error } => {
                write!(f, "cannot connect to {address}: {error}")
            }
            Unhealthy::TimedOut { address } => write!(
                f,
                "no answer from {address} within {}",
                humantime::format_duration(HEALTHCHECK_TIMEOUT)
            ),
            Unhealthy::Certificate(error) => write!(f, "{error}"),
            Unhealthy::Failed { address, why } => write!(f, "{address}: {why}"),
            Unhealthy::Status {
                address,
                status_line,
            } => write!(f, "{address} answered GET /healthz with {status_line}"),
        }
    }
}

impl std::error::Error for Unhealthy {}

/// Sends `GET /healthz` where `config` serves, and returns the status line of a 200.
pub fn check(config: &Config) -> Result<String, Unhealthy> {
    let deadline = Instant::now() + HEALTHCHECK_TIMEOUT;
    if let Some(path) = &config.unix_socket {
        return check_unix(path, deadline);
    }
    let addr = SocketAddr::new(loopback_if_unspecified(config.host), config.port);
    let address = match config.tls_cert {
        Some(_) => format!("https://{addr}"),
        None => format!("http://{addr}"),
    };
    let tcp = connect_tcp(addr, &address, deadline)?;
    if config.proxy_protocol {
        send_local_header(&tcp, config, &address)?;
    }
    match &config.tls_cert {
        None => exchange(tcp, &address),
        Some(cert) => {
            let tls = tls_client(cert)?;
            let name = ServerName::IpAddress(addr.ip().into());
            let connection = ClientConnection::new(tls, name).map_err(|e| Unhealthy::Failed {
                address: address.clone(),
                why: format!("TLS: {e}"),
            })?;
            exchange(StreamOwned::new(connection, tcp), &address)
        }
    }
}

/// The check over the Unix socket at `path`.
fn check_unix(path: &Path, deadline: Instant) -> Result<String, Unhealthy> {
    let address = format!("unix:{}", path.display());
    let stream = UnixStream::connect(path).map_err(|error| Unhealthy::Unreachable {
        address: address.clone(),
        error,
    })?;
    let left = remaining(deadline);
    (stream
        .set_read_timeout(Some(left))
        .and(stream.set_write_timeout(Some(left))))
    .map_err(|e| failed(&address, e))?;
    exchange(stream, &address)
}

/// A TCP connection to `addr`, with the time left before `deadline` for its reads
/// and writes.
fn connect_tcp(addr: SocketAddr, address: &str, deadline: Instant) -> Result<TcpStream, Unhealthy> {
    let tcp =
        TcpStream::connect_timeout(&addr, remaining(deadline)).map_err(|error| {
            match error.kind() {
                io::ErrorKind::TimedOut => Unhealthy::TimedOut {
                    address: address.to_owned(),
                },
                _ => Unhealthy::Unreachable {
                    address: address.to_owned(),
                    error,
                },
            }
        })?;
    let left = remaining(deadline);
    (tcp.set_read_timeout(Some(left))
        .and(tcp.set_write_timeout(Some(left))))
    .map_err(|e| failed(address, e))?;
    Ok(tcp)
}

/// With `--proxy-protocol`: what a balancer's own check sends first, a v2 `LOCAL`
/// header (the socket's peer is the client); or, when the server would not believe
/// this address, why the check cannot pass.
fn send_local_header(tcp: &TcpStream, config: &Config, address: &str) -> Result<(), Unhealthy> {
    let source = tcp.local_addr().map_err(|e| failed(address, e))?;
    if !config.trusted_proxies.trusts(&Peer::Ip(source)) {
        let trusted = match config.trusted_proxies.to_string() {
            list if list.is_empty() => "none".to_owned(),
            list => list,
        };
        return Err(Unhealthy::Failed {
            address: address.to_owned(),
            why: format!(
                "with --proxy-protocol the server believes headers only from \
                 --trusted-proxies ({trusted}), and this check comes from {}",
                source.ip()
            ),
        });
    }
    let local = v2::Builder::new(
        v2::Version::Two | v2::Command::Local,
        v2::AddressFamily::Unspecified | v2::Protocol::Unspecified,
    );
    (local.build())
        .and_then(|header| (&*tcp).write_all(&header))
        .map_err(|e| io_failure(address, e))
}

/// Where a server bound to `host` is reached from this machine.
fn loopback_if_unspecified(host: IpAddr) -> IpAddr {
    match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// The time left before `deadline`, never zero (a zero timeout means none at all).
fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Writes the request on `stream` and reads the status line of the answer.
fn exchange(mut stream: impl Read + Write, address: &str) -> Result<String, Unhealthy> {
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\
                    User-Agent: smol-toy-healthcheck\r\nConnection: close\r\n\r\n";
    stream
        .write_all(request)
        .and_then(|()| stream.flush())
        .map_err(|e| io_failure(address, e))?;
    // The status line is all that is needed; it fits well within 1 KiB.
    let mut answer = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    while !answer.contains(&b'\n') && answer.len() < 1024 {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(address, e)),
        }
    }
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(line).trim_end().to_string();
    if status_line.is_empty() {
        return Err(Unhealthy::Failed {
            address: address.to_string(),
            why: "the connection closed before an answer".to_string(),
        });
    }
    match status_line.split(' ').nth(1) {
        Some("200") if status_line.starts_with("HTTP/1.") => Ok(status_line),
        _ => Err(Unhealthy::Status {
            address: address.to_string(),
            status_line,
        }),
    }
}

/// A read or write that failed: a timeout is said as such.
fn io_failure(address: &str, error: io::Error) -> Unhealthy {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Unhealthy::TimedOut {
            address: address.to_string(),
        },
        _ => failed(address, error),
    }
}

fn failed(address: &str, error: io::Error) -> Unhealthy {
    Unhealthy::Failed {
        address: address.to_string(),
        why: error.to_string(),
    }
}

/// A client that trusts the leaf of the chain in `cert` and nothing else.
fn tls_client(cert: &Path) -> Result<Arc<ClientConfig>, Unhealthy> {
    let leaf = read_leaf(cert).map_err(Unhealthy::Certificate)?;
    let provider = crypto_provider();
    let verifier = Arc::new(ThisCertificate {
        leaf,
        provider: Arc::clone(&provider),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring offers TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts a server that presents exactly `leaf` and proves it holds its key. The
/// check runs on the server's own machine with the server's own files: pinning the
/// certificate needs neither a CA nor a name that matches the address.
#[derive(Debug)]
struct ThisCertificate {
    leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ThisCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server presents another certificate than --tls-cert".to_string(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        (self.provider.signature_verification_algorithms).supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_host_is_reached_on_loopback() {
        let v4: IpAddr = "0.0.0.0".parse().unwrap();
        let v6: IpAddr = "::".parse().unwrap();
        let named: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(loopback_if_unspecified(v4), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(loopback_if_unspecified(v6), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(loopback_if_unspecified(named), named);
    }

    /// A server that answers `bytes` and discards the request.
    struct Canned(io::Cursor<Vec<u8>>);

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_a_200_status_line_is_healthy() {
        let answer = |bytes: &[u8]| exchange(Canned(io::Cursor::new(bytes.to_vec())), "test");
        let ok = answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(ok.unwrap(), "HTTP/1.1 200 OK");
        let draining = answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").unwrap_err();
        assert!(draining.to_string().contains("503 Service Unavailable"));
        let closed = answer(b"").unwrap_err();
        assert!(closed.to_string().contains("closed before an answer"));
        let garbage = answer(b"SSH-2.0-OpenSSH 200\r\n").unwrap_err();
        assert!(matches!(garbage, Unhealthy::Status { .. }));
    }
}
