//! HTTPS: TLS 1.3 and 1.2 with rustls (the ring provider, through its unbuffered
//! API), over every TCP connection; Unix sockets stay plain HTTP.
//!
//! - here: [`TlsAcceptor`], what makes a TLS stream of each accepted socket, and its
//!   settings (versions, suites, ALPN).
//! - [`certificate`]: the certificate and key, read from their files and described.
//! - [`stream`]: the stream connections are served over, TLS or not, and the TLS
//!   session's buffers; [`handshake`]: the handshake; [`records`]: decrypting and
//!   encrypting records.
//!
//! The handshake runs in the connection's own task, within the header timeout
//! ([`crate::Acceptor`]). The certificate is read again on SIGHUP
//! ([`TlsAcceptor::reload`]): new handshakes use the new one, open connections keep
//! theirs.

mod certificate;
mod handshake;
mod records;
mod stream;

pub(crate) use certificate::read_leaf;
pub use certificate::{CertificateError, CertificateFiles, Summary};
pub use stream::{MaybeTls, TlsStream};

use std::io;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use log::{debug, error, info, warn};
use rustls::ProtocolVersion;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};

use crate::metrics::{Handshake, Metrics, TlsMetrics};
use crate::transport::scratch::read_onto;
use crate::transport::{Acceptor, Peer, Security, Socket};
use certificate::LoadedCertificate;

/// The first byte of a TLS record that carries a handshake message: a ClientHello
/// starts with it. Plain HTTP starts with a method's letter.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Whether a connection whose first byte is `first` is starting a TLS handshake.
pub fn starts_tls_handshake(first: u8) -> bool {
    first == HANDSHAKE_RECORD
}

/// Makes a TLS stream of each TCP connection, with the certificate in service.
/// Clones share the certificate, so a reload through one is seen by all.
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    files: CertificateFiles,
    provider: Arc<CryptoProvider>,
    certificates: Arc<InService>,
    metrics: TlsMetrics,
}

/// The certificate new handshakes are served, swapped on reload.
#[derive(Debug)]
struct InService {
    current: RwLock<(Arc<CertifiedKey>, Summary)>,
}

impl ResolvesServerCert for InService {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(Arc::clone(&current.0))
    }
}

impl InService {
    fn summary(&self) -> Summary {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        current.1.clone()
    }

    fn replace(&self, loaded: LoadedCertificate) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = (loaded.key, loaded.summary);
    }
}

/// The cryptography smol-toy's TLS runs on, server and health check alike: ring's.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsAcceptor {
    /// Reads the certificate and key from `files`, and logs what the certificate
    /// says.
    pub fn new(files: CertificateFiles) -> Result<Self, CertificateError> {
        let provider = crypto_provider();
        let loaded = files.load(&provider)?;
        log_in_service("serving", &loaded.summary);
        let metrics = TlsMetrics::default();
        metrics.certificate_expires(loaded.summary.expiry_timestamp());
        let certificates = Arc::new(InService {
            current: RwLock::new((loaded.key, loaded.summary)),
        });
        let versions = [&TLS13, &TLS12];
        let config = server_config(
            Arc::clone(&provider),
            &versions,
            Arc::clone(&certificates) as _,
        );
        Ok(TlsAcceptor {
            config,
            inner: Arc::new(Inner {
                files,
                provider,
                certificates,
                metrics,
            }),
        })
    }

    /// Reads the certificate and key again. New handshakes use them; connections
    /// already open keep theirs. A pair that cannot be served is refused, and the
    /// one in service stays.
    pub fn reload(&self) {
        let inner = &self.inner;
        match inner.files.load(&inner.provider) {
            Ok(loaded) => {
                log_in_service("reloaded", &loaded.summary);
                inner
                    .metrics
                    .certificate_expires(loaded.summary.expiry_timestamp());
                inner.certificates.replace(loaded);
                inner.metrics.reloaded(true);
            }
            Err(refused) => {
                error!(
                    "TLS: reload refused: {refused}; still serving {}",
                    inner.certificates.summary()
                );
                inner.metrics.reloaded(false);
            }
        }
    }

    /// What the certificate in service says.
    pub fn summary(&self) -> Summary {
        self.inner.certificates.summary()
    }

    /// The TLS handshake over `socket`; counted.
    async fn handshake(&self, mut socket: Socket, peer: &Peer) -> io::Result<(MaybeTls, Security)> {
        let mut first = Vec::new();
        read_onto(&mut socket, &mut first).await?;
        if first.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the TLS handshake",
            ));
        }
        let metrics = &self.inner.metrics;
        if !starts_tls_handshake(first[0]) {
            debug!("{peer}: plain HTTP to the HTTPS port");
            metrics.handshake(Handshake::Plaintext);
            return Ok((MaybeTls::Plain(socket), Security::Plain));
        }
        match TlsStream::accept(socket, Arc::clone(&self.config), first).await {
            Ok(stream) => {
                metrics.handshake(Handshake::Ok);
                let version = version_name(&stream);
                Ok((MaybeTls::Tls(stream), Security::Tls(version)))
            }
            Err(error) => {
                metrics.handshake(Handshake::Failed);
                Err(io::Error::other(format!("TLS handshake failed: {error}")))
            }
        }
    }
}

/// HTTPS on TCP connections when `Some`; plain HTTP everywhere when `None`. One
/// stream type for both, so the connection code exists once in the binary.
impl Acceptor for Option<TlsAcceptor> {
    type Stream = MaybeTls;

    async fn accept(&self, socket: Socket, peer: &Peer) -> io::Result<(MaybeTls, Security)> {
        match self {
            Some(tls) if socket.is_tcp() => tls.handshake(socket, peer).await,
            _ => Ok((MaybeTls::Plain(socket), Security::Plain)),
        }
    }

    fn https(&self) -> bool {
        self.is_some()
    }

    fn alpn_protocol(stream: &MaybeTls) -> Option<&[u8]> {
        match stream {
            MaybeTls::Tls(tls) => tls.alpn_protocol(),
            MaybeTls::Plain(_) => None,
        }
    }

    fn offer_alpn(&mut self, protocols: &[&[u8]]) {
        if let Some(tls) = self {
            let mut config = ServerConfig::clone(&tls.config);
            config.alpn_protocols = protocols.iter().map(|protocol| protocol.to_vec()).collect();
            tls.config = Arc::new(config);
        }
    }

    fn http3_tls(&self) -> Option<Arc<ServerConfig>> {
        let tls = self.as_ref()?;
        let inner = &tls.inner;
        let certificates = Arc::clone(&inner.certificates) as _;
        let mut config = server_config(Arc::clone(&inner.provider), &[&TLS13], certificates);
        let config_mut = Arc::make_mut(&mut config);
        config_mut.alpn_protocols = vec![b"h3".to_vec()];
        // 0-RTT stays off: a request in early data can be replayed.
        config_mut.max_early_data_size = 0;
        Some(config)
    }

    fn timed_out(&self) {
        if let Some(tls) = self {
            tls.inner.metrics.handshake(Handshake::Timeout);
        }
    }

    fn register_metrics(&self, metrics: &mut Metrics) {
        if let Some(tls) = self {
            metrics.register_with(|registry| tls.inner.metrics.register(registry));
        }
    }
}

/// TLS 1.3 and 1.2 (QUIC: 1.3) only, ring's cipher suites (all with forward secrecy: ECDHE key
/// exchange, AEAD ciphers) in the server's order, and the server's order of the
/// protocols offered by ALPN ([`Acceptor::offer_alpn`]), none until the server
/// says which.
fn server_config(
    provider: Arc<CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    certificates: Arc<dyn ResolvesServerCert>,
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.3 and 1.2")
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.ignore_client_order = true;
    Arc::new(config)
}

/// The negotiated version, as nginx's `$ssl_protocol` names it.
fn version_name(stream: &TlsStream) -> &'static str {
    match stream.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    }
}

/// Logs the certificate now in service, and warns if it is not valid now.
fn log_in_service(what: &str, summary: &Summary) {
    info!("TLS: {what} the certificate for {summary}");
    if let Some(problem) = certificate::validity_problem(summary, SystemTime::now()) {
        warn!("TLS: the certificate in service is not valid now: {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_handshake_record_starts_tls() {
        assert!(starts_tls_handshake(0x16));
        // Plain HTTP starts with a method; an SSL 2 hello, or an alert, is no TLS
        // handshake rustls would take either.
        for first in [b'G', b'P', b'H', b'O', b'\r', 0x80, 0x15, 0x17, 0] {
            assert!(!starts_tls_handshake(first), "{first:#x}");
        }
    }
}
